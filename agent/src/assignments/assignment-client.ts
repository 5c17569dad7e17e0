import { create } from "@bufbuild/protobuf";
import {
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  AgentInfoSchema,
  AgentService,
  createGrpcClient,
  HeartbeatRequestSchema,
  WatchAssignmentsRequestSchema,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import type { Logger } from "pino";
import { createBackoff, type BackoffOptions } from "../backoff.js";
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

/** Transport keepalive settings (grpc channel options). */
export interface KeepaliveOptions {
  /** Ping the server after this long without activity. @default 20000 */
  timeMs?: number;
  /** Drop the connection when a ping is not answered within this. @default 10000 */
  timeoutMs?: number;
  /** Ping even with no call in flight. @default true */
  permitWithoutCalls?: boolean;
}

/** Dependencies and options of `createAssignmentClient`. */
export interface AssignmentClientOptions {
  /** host:port of the control plane's agent service. */
  grpcAddr: string;
  /** Bearer token; sent in `authorization` metadata, never logged. */
  token: string;
  agent: AgentIdentity;
  set: AssignmentSet;
  cache: AssignmentCache;
  log: Logger;
  /** Receives every non-empty batch of changes, after the set and the cache are updated. */
  onChanges: (changes: AssignmentChange[], version: bigint, source: ChangeSource) => void;
  heartbeatStats: () => HeartbeatStats;
  /** Reconnect policy of the assignment stream. @default { initialMs: 250, maxMs: 15000, multiplier: 2 } (full jitter) */
  backoff?: BackoffOptions;
  /** @default { timeMs: 20000, timeoutMs: 10000, permitWithoutCalls: true } */
  keepalive?: KeepaliveOptions;
  /** Interval of the Heartbeat RPC. @default 5000 */
  heartbeatIntervalMs?: number;
  /** @default systemClock() */
  clock?: Clock;
  /** Transport security towards the control plane. @default plaintext */
  channelCredentials?: ChannelCredentials;
}

/** Counters of the assignment client. */
export interface AssignmentClientStats {
  connected: boolean;
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
  /** Cancels the stream and heartbeats and closes the channel. */
  stop(): Promise<void>;
  stats(): AssignmentClientStats;
}

/** Creates the gRPC client of the agent service. Nothing happens until `start()`. */
export function createAssignmentClient(options: AssignmentClientOptions): AssignmentClient {
  const log = options.log.child({ component: "assignments" });
  const clock = options.clock ?? systemClock();
  const backoff = createBackoff({ initialMs: 250, maxMs: 15_000, multiplier: 2, ...options.backoff });
  const keepalive = { timeMs: 20_000, timeoutMs: 10_000, permitWithoutCalls: true, ...options.keepalive };
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5000;
  const channelOptions: ChannelOptions = {
    "grpc.keepalive_time_ms": keepalive.timeMs,
    "grpc.keepalive_timeout_ms": keepalive.timeoutMs,
    "grpc.keepalive_permit_without_calls": keepalive.permitWithoutCalls ? 1 : 0,
    // Channel-level reconnects follow the same bounds as the stream's.
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 15_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  };
  const client = createGrpcClient(
    AgentService,
    options.grpcAddr,
    options.channelCredentials ?? credentials.createInsecure(),
    channelOptions,
  );
  const agentInfo = create(AgentInfoSchema, options.agent);

  let started = false;
  let stopped = false;
  let call: ClientReadableStream<WatchAssignmentsResponse> | undefined;
  let reconnectTimer: TimerHandle | undefined;
  let heartbeatTimer: TimerHandle | undefined;
  const stats: AssignmentClientStats = {
    connected: false,
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
    if (event.case === "snapshot") {
      changes = options.set.applySnapshot({ version: event.value.version, checks: event.value.checks });
      source = "snapshot";
      log.info(
        { version: String(event.value.version), checks: event.value.checks.length, changes: changes.length },
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
    options.cache.save({ version: options.set.version(), checks: options.set.checks() });
    emit(changes, source);
  };

  const watch = () => {
    if (stopped) return;
    const request = create(WatchAssignmentsRequestSchema, { agent: agentInfo, knownVersion: options.set.version() });
    const current = client.watchAssignments(request, metadata());
    call = current;
    stats.connects++;
    let first = true;
    let ended = false;
    const finish = (why: string, err?: ServiceError) => {
      if (ended) return;
      ended = true;
      if (call === current) call = undefined;
      const wasConnected = stats.connected;
      stats.connected = false;
      if (stopped) return;
      stats.disconnects++;
      if (err?.code === status.UNAUTHENTICATED || err?.code === status.PERMISSION_DENIED) {
        stats.authFailures++;
        // The details say why (e.g. the claimed region differs from the enrollment); they never hold the token.
        log.error(
          { code: err.code, details: err.details },
          err.code === status.PERMISSION_DENIED
            ? `control plane refused this agent: ${err.details}`
            : "control plane refused this agent's token; check PROBEMESH_AGENT_TOKEN",
        );
      } else if (wasConnected) {
        log.warn(
          { why, code: err?.code, details: err?.details },
          "assignment stream lost; probing continues from the last assignments",
        );
      } else {
        log.debug({ why, code: err?.code, details: err?.details }, "control plane unreachable");
      }
      scheduleReconnect();
    };
    current.on("data", (response: WatchAssignmentsResponse) => {
      if (stopped || ended) return;
      if (first) {
        first = false;
        stats.connected = true;
        backoff.reset();
        log.info({ addr: options.grpcAddr }, "connected to the control plane");
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
    client.heartbeat(request, metadata(), { deadline: Date.now() + Math.max(1000, heartbeatIntervalMs) }, (err) => {
      if (err) {
        stats.heartbeatsFailed++;
        log.debug({ code: err.code }, "heartbeat failed");
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
        const changes = options.set.applySnapshot(cached);
        log.info(
          { version: String(cached.version), checks: cached.checks.length, savedAtMs: cached.savedAtMs },
          "loaded cached assignments",
        );
        emit(changes, "cache");
      }
      watch();
      heartbeatTimer = clock.setTimeout(heartbeat, heartbeatIntervalMs);
    },
    async stop() {
      stopped = true;
      if (reconnectTimer !== undefined) clock.clearTimeout(reconnectTimer);
      if (heartbeatTimer !== undefined) clock.clearTimeout(heartbeatTimer);
      reconnectTimer = heartbeatTimer = undefined;
      call?.cancel();
      call = undefined;
      stats.connected = false;
      client.close();
    },
    stats: () => ({ ...stats }),
  };
}
