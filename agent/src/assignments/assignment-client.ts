import { create } from "@bufbuild/protobuf";
import { Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import {
  AgentInfoSchema,
  HeartbeatRequestSchema,
  WatchAssignmentsRequestSchema,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import type { Logger } from "pino";
import { createBackoff, type BackoffOptions } from "../backoff.js";
import { codeName, isReplicaFailure, type ControlPlaneReplicas } from "../control-plane-replicas.js";
import { systemClock, type Clock, type TimerHandle } from "../schedule/clock.js";
import type { AssignmentCache } from "./assignment-cache.js";
import type { AssignmentChange, AssignmentSet } from "./assignment-set.js";

/** Who this agent is, as sent on every connection. */
export interface AgentIdentity {
  id: string;
  region: string;
  provider: string;
  version: string;
  /** Check types this agent can run. */
  capabilities: string[];
}

/** Agent statistics carried by each heartbeat. */
export interface HeartbeatStats {
  outboxDepth: number;
  lastSeq: bigint;
  schedulingLagP99Ms: number;
}

/** Where a batch of assignment changes came from. */
export type ChangeSource = "cache" | "snapshot" | "delta";

/** Dependencies and options of `createAssignmentClient`. */
export interface AssignmentClientOptions {
  /**
   * The control-plane replicas; the stream and heartbeats go to the current one, and a failed
   * stream or an unanswered heartbeat moves on to the next. The caller closes them after `stop()`.
   */
  replicas: ControlPlaneReplicas;
  /** Bearer token; sent in `authorization` metadata, never logged. */
  token: string;
  agent: AgentIdentity;
  set: AssignmentSet;
  cache: AssignmentCache;
  log: Logger;
  /** Receives every non-empty batch of changes, after the set and the cache are updated. */
  onChanges: (changes: AssignmentChange[], version: bigint, source: ChangeSource) => void;
  /** Told when the mesh's regions changed (after the set, the cache and `onChanges`). @default nothing */
  onRegions?: (regions: readonly string[], source: ChangeSource) => void;
  heartbeatStats: () => HeartbeatStats;
  /** Reconnect policy of the assignment stream. @default { initialMs: 250, maxMs: 15000, multiplier: 2 } (full jitter) */
  backoff?: BackoffOptions;
  /** Interval of the Heartbeat RPC. @default 5000 */
  heartbeatIntervalMs?: number;
  /** @default systemClock() */
  clock?: Clock;
}

/** Counters of the assignment client. */
export interface AssignmentClientStats {
  connected: boolean;
  /** host:port of the replica in use (connected or being tried). */
  addr: string;
  /** Times the agent moved to another replica after a failure. */
  replicaMoves: number;
  /** Assignment streams opened (first connect included). */
  connects: number;
  /** Streams that ended or failed. */
  disconnects: number;
  /** Streams the control plane refused for a bad token. */
  authFailures: number;
  /** Stream messages that could not be applied. */
  badMessages: number;
  heartbeatsOk: number;
  heartbeatsFailed: number;
  /** Epoch ms of the last answered heartbeat (0 = none). */
  lastHeartbeatMs: number;
}

/** Keeps the assignment set in sync with the control plane. */
export interface AssignmentClient {
  /** Loads the cache (emitting its checks), then connects and keeps reconnecting. */
  start(): void;
  /** Cancels the stream and heartbeats (the replicas' channels stay with their owner). */
  stop(): Promise<void>;
  stats(): AssignmentClientStats;
}

/** Creates the gRPC client of the agent service. Nothing happens until `start()`. */
export function createAssignmentClient(options: AssignmentClientOptions): AssignmentClient {
  const log = options.log.child({ component: "assignments" });
  const clock = options.clock ?? systemClock();
  const backoff = createBackoff({ initialMs: 250, maxMs: 15_000, multiplier: 2, ...options.backoff });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5000;
  const { replicas } = options;
  const agentInfo = create(AgentInfoSchema, options.agent);

  let started = false;
  let stopped = false;
  let call: ClientReadableStream<WatchAssignmentsResponse> | undefined;
  /** Ends the open stream because the agent moved to another replica. */
  let leaveStream: ((to: string) => void) | undefined;
  let stopMoves: (() => void) | undefined;
  let reconnectTimer: TimerHandle | undefined;
  let heartbeatTimer: TimerHandle | undefined;
  const stats: AssignmentClientStats = {
    connected: false,
    addr: replicas.current(),
    replicaMoves: 0,
    connects: 0,
    disconnects: 0,
    authFailures: 0,
    badMessages: 0,
    heartbeatsOk: 0,
    heartbeatsFailed: 0,
    lastHeartbeatMs: 0,
  };

  const metadata = () => {
    const md = new Metadata();
    md.set("authorization", `Bearer ${options.token}`);
    return md;
  };

  const emitRegions = (before: readonly string[], source: ChangeSource) => {
    const regions = options.set.regions();
    if (regions.join("\n") === before.join("\n")) return;
    log.info({ regions, previous: before, source }, "mesh regions changed: runs are placed by them");
    try {
      options.onRegions?.(regions, source);
    } catch (err) {
      log.error({ err }, "regions change handler threw");
    }
  };

  const emit = (changes: AssignmentChange[], source: ChangeSource) => {
    if (changes.length === 0) return;
    try {
      options.onChanges(changes, options.set.version(), source);
    } catch (err) {
      log.error({ err }, "assignment change handler threw");
    }
  };

  const scheduleReconnect = () => {
    if (stopped || reconnectTimer !== undefined) return;
    const delay = backoff.next();
    log.debug({ delayMs: delay, attempt: backoff.attempts() }, "reconnecting to the control plane");
    reconnectTimer = clock.setTimeout(() => {
      reconnectTimer = undefined;
      watch();
    }, delay);
  };

  const handle = (response: WatchAssignmentsResponse) => {
    const event = response.event;
    let changes: AssignmentChange[];
    let source: ChangeSource;
    const partitionsBefore = options.set.partitions();
    const regionsBefore = options.set.regions();
    if (event.case === "snapshot") {
      changes = options.set.applySnapshot({
        version: event.value.version,
        checks: event.value.checks,
        partitions: event.value.partitions,
        regions: event.value.regions,
      });
      source = "snapshot";
      log.info(
        {
          version: String(event.value.version),
          checks: event.value.checks.length,
          changes: changes.length,
          partitions: event.value.partitions,
          regions: event.value.regions,
        },
        "assignment snapshot received",
      );
    } else if (event.case === "delta") {
      changes = options.set.applyDelta(event.value);
      source = "delta";
    } else {
      stats.badMessages++;
      log.warn("assignment message without snapshot or delta; ignored");
      return;
    }
    const partitions = options.set.partitions();
    if (partitions !== partitionsBefore)
      log.info({ partitions, previous: partitionsBefore, source }, "result partition count changed");
    options.cache.save({
      version: options.set.version(),
      checks: options.set.checks(),
      partitions,
      regions: [...options.set.regions()],
    });
    emit(changes, source);
    emitRegions(regionsBefore, source);
  };

  const watch = () => {
    if (stopped) return;
    const addr = replicas.current();
    stats.addr = addr;
    const request = create(WatchAssignmentsRequestSchema, { agent: agentInfo, knownVersion: options.set.version() });
    const current = replicas.client().watchAssignments(request, metadata());
    call = current;
    stats.connects++;
    let first = true;
    let ended = false;
    let movedTo: string | undefined;
    leaveStream = (to) => {
      movedTo = to;
      current.cancel();
    };
    const finish = (why: string, err?: ServiceError) => {
      if (ended) return;
      ended = true;
      if (call === current) {
        call = undefined;
        leaveStream = undefined;
      }
      const wasConnected = stats.connected;
      stats.connected = false;
      if (stopped) return;
      stats.disconnects++;
      if (movedTo !== undefined) {
        // Another call (a heartbeat) found this replica failing and already moved on.
        log.info({ addr, to: movedTo }, "left the assignment stream of a failing replica");
        scheduleReconnect();
        return;
      }
      if (err?.code === status.UNAUTHENTICATED || err?.code === status.PERMISSION_DENIED) {
        stats.authFailures++;
        // The details say why (e.g. the claimed region differs from the enrollment); they never hold the token.
        log.error(
          { addr, code: err.code, details: err.details },
          err.code === status.PERMISSION_DENIED
            ? `control plane refused this agent: ${err.details}`
            : "control plane refused this agent's token; check PROBEMESH_AGENT_TOKEN",
        );
      } else if (wasConnected) {
        log.warn(
          { addr, why, code: err?.code, details: err?.details },
          "assignment stream lost; probing continues from the last assignments",
        );
      } else {
        log.debug({ addr, why, code: err?.code, details: err?.details }, "control plane unreachable");
      }
      // Any replica serves the same assignments; the next one is tried after the usual backoff.
      // A bad message is this agent's problem, not the replica's: it resyncs where it is.
      if (why !== "bad message")
        replicas.moveOn(addr, `assignment stream ${why}${err ? ` (${codeName(err.code)}: ${err.details})` : ""}`);
      scheduleReconnect();
    };
    current.on("data", (response: WatchAssignmentsResponse) => {
      if (stopped || ended) return;
      if (first) {
        first = false;
        stats.connected = true;
        backoff.reset();
        log.info({ addr }, "connected to the control plane");
      }
      try {
        handle(response);
      } catch (err) {
        stats.badMessages++;
        log.error({ err }, "could not apply an assignment message; resyncing");
        // A fresh stream starts with a full snapshot, which repairs whatever went wrong.
        current.cancel();
        finish("bad message");
      }
    });
    current.on("error", (err: ServiceError) => finish("error", err));
    current.on("end", () => finish("server ended the stream"));
  };

  const heartbeat = () => {
    heartbeatTimer = undefined;
    if (stopped) return;
    const s = options.heartbeatStats();
    const request = create(HeartbeatRequestSchema, {
      agent: agentInfo,
      assignmentVersion: options.set.version(),
      outboxDepth: Math.min(s.outboxDepth, 0xffffffff),
      lastSeq: s.lastSeq,
      schedulingLagP99Ms: s.schedulingLagP99Ms,
    });
    const addr = replicas.current();
    const deadline = Date.now() + Math.max(1000, heartbeatIntervalMs);
    replicas.client().heartbeat(request, metadata(), { deadline }, (err) => {
      if (err) {
        stats.heartbeatsFailed++;
        log.debug({ addr, code: err.code }, "heartbeat failed");
        // A replica that stopped answering (hung, cut off) may keep the stream open until keepalive
        // gives up; an unanswered heartbeat moves on sooner.
        if (!stopped && isReplicaFailure(err.code))
          replicas.moveOn(addr, `heartbeat failed (${codeName(err.code)}: ${err.details})`);
      } else {
        stats.heartbeatsOk++;
        stats.lastHeartbeatMs = clock.now();
      }
    });
    if (!stopped) heartbeatTimer = clock.setTimeout(heartbeat, heartbeatIntervalMs);
  };

  return {
    start() {
      if (started) return;
      started = true;
      const cached = options.cache.load();
      if (cached) {
        const regionsBefore = options.set.regions();
        const changes = options.set.applySnapshot(cached);
        log.info(
          {
            version: String(cached.version),
            checks: cached.checks.length,
            partitions: cached.partitions,
            savedAtMs: cached.savedAtMs,
          },
          "loaded cached assignments",
        );
        emit(changes, "cache");
        emitRegions(regionsBefore, "cache");
      }
      stopMoves = replicas.onMove(({ to }) => {
        stats.replicaMoves++;
        stats.addr = to;
        leaveStream?.(to);
      });
      watch();
      heartbeatTimer = clock.setTimeout(heartbeat, heartbeatIntervalMs);
    },
    async stop() {
      stopped = true;
      if (reconnectTimer !== undefined) clock.clearTimeout(reconnectTimer);
      if (heartbeatTimer !== undefined) clock.clearTimeout(heartbeatTimer);
      reconnectTimer = heartbeatTimer = undefined;
      stopMoves?.();
      call?.cancel();
      call = undefined;
      leaveStream = undefined;
      stats.connected = false;
    },
    stats: () => ({ ...stats }),
  };
}
