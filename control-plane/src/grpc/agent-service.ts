import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { status, type Metadata } from "@grpc/grpc-js";
import {
  AgentService as AgentServiceDesc,
  AssignmentDeltaSchema,
  AssignmentSnapshotSchema,
  grpcServiceDefinition,
  HeartbeatResponseSchema,
  MAX_PARTITIONS,
  WatchAssignmentsResponseSchema,
  type AssignmentDelta,
  type GrpcServiceDefinition,
  type GrpcServiceImplementation,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import type { Logger } from "pino";
import type { AgentDirectory, AgentIdentity } from "../agents/types.js";
import type { EnrolledAgent, Enrollments } from "../trust/enrollment.js";
import { bearerToken } from "../trust/token.js";
import type { CheckRegistry, RegistryWatch } from "../registry/types.js";
import { checkRunsIn } from "../checks/check-record.js";
import { agentIdentity } from "./agent-info.js";
import { assignedChecks, assignmentDelta } from "./assignments.js";
import { createNatsCredentialsHandler } from "./nats-credentials.js";
import type { AgentCredentialIssuer } from "../trust/agent-credentials.js";

/** Options of {@link createAgentService}. */
export interface AgentServiceOptions {
  registry: CheckRegistry;
  agents: AgentDirectory;
  /**
   * Who may connect: each agent sends `authorization: Bearer <its token>` metadata, which must
   * belong to an active enrollment whose id and region the AgentInfo repeats.
   */
  enrollments: Enrollments;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Mints agents' NATS credentials (GetNatsCredentials). @default none: FAILED_PRECONDITION */
  natsCredentials?: AgentCredentialIssuer;
  /**
   * The mesh's partition count (PROBEMESH_PARTITIONS, 1..MAX_PARTITIONS), sent in every snapshot and
   * delta: agents publish each result on the partition of its check, where that partition's decider reads.
   */
  partitions: number;
  /**
   * How often the enrolled agents' regions are compared with what the streams were last told; a change
   * (an agent enrolled in a new region, the last one of a region revoked) is sent to every open stream
   * as a delta without checks. @default 2000
   */
  regionsEveryMs?: number;
}

/** Counters of the agent service. */
export interface AgentServiceStats {
  /** Calls rejected for a missing or wrong token. */
  unauthenticated: number;
  /** Calls rejected for a bad AgentInfo. */
  invalidArgument: number;
  /** Calls rejected because the AgentInfo's id or region differs from the token's enrollment. */
  permissionDenied: number;
  /** Assignment streams ended because their agent was revoked. */
  revokedStreams: number;
  /** Assignment streams open right now. */
  openStreams: number;
  snapshotsSent: number;
  deltasSent: number;
  heartbeats: number;
}

/** The agent gRPC service, ready to add to a grpc-js server. */
export interface AgentService {
  readonly definition: GrpcServiceDefinition<typeof AgentServiceDesc>;
  readonly implementation: GrpcServiceImplementation<typeof AgentServiceDesc>;
  stats(): AgentServiceStats;
  /**
   * Ends every open assignment stream with UNAVAILABLE (agents then reconnect, maybe elsewhere) and
   * stops following revocations.
   */
  close(): void;
}

type Handlers = GrpcServiceImplementation<typeof AgentServiceDesc>;

interface OpenStream {
  agent: AgentIdentity;
  end(code: status, details: string): void;
  /** Tells the agent the mesh's regions changed (a delta without checks). */
  regionsChanged(): void;
}

/**
 * The control plane's side of `probemesh.v1.AgentService`: WatchAssignments sends the snapshot of
 * the checks an agent's region runs and its capabilities cover (see `assigns`), then a delta for every registry change that concerns it, as
 * the registry delivers them (same process tick as the change arrives from NATS). Heartbeat records
 * presence. Both need an enrolled agent's token (looked up by hash) and an AgentInfo whose id and
 * region are that enrollment's; a revoked agent's open stream ends with PERMISSION_DENIED.
 */
export function createAgentService(opts: AgentServiceOptions): AgentService {
  const { registry, agents, enrollments, partitions } = opts;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)
    throw new RangeError(`partitions must be an integer in 1..${MAX_PARTITIONS}, got ${partitions}`);
  const log = opts.log.child({ component: "agent-service" });
  const now = opts.now ?? Date.now;
  const streams = new Map<string, OpenStream>();
  const counters = {
    unauthenticated: 0,
    invalidArgument: 0,
    permissionDenied: 0,
    revokedStreams: 0,
    snapshotsSent: 0,
    deltasSent: 0,
    heartbeats: 0,
  };

  function authenticated(metadata: Metadata, method: string, peer: string): EnrolledAgent | undefined {
    const value = metadata.get("authorization")[0];
    const token = bearerToken(typeof value === "string" ? value : undefined);
    const enrolled = token === undefined ? undefined : enrollments.authenticate(token);
    if (enrolled) return enrolled;
    counters.unauthenticated++;
    // Never log what was presented: it may be a near-miss of a real token.
    log.warn(
      { method, peer, unauthenticated: counters.unauthenticated },
      "agent call rejected: missing, unknown or revoked agent token",
    );
    return undefined;
  }

  /** Why the AgentInfo may not speak for `enrolled` (its id or region differs), or undefined. */
  function impersonation(enrolled: EnrolledAgent, who: AgentIdentity, method: string, peer: string) {
    if (who.id === enrolled.id && who.region === enrolled.region) return undefined;
    counters.permissionDenied++;
    const details =
      `agent token is enrolled as id ${JSON.stringify(enrolled.id)} in region ${JSON.stringify(enrolled.region)}, ` +
      `but the agent claims id ${JSON.stringify(who.id)} in region ${JSON.stringify(who.region)}; ` +
      "set PROBEMESH_AGENT_ID and PROBEMESH_REGION to the enrollment's";
    log.warn(
      {
        method,
        peer,
        agentId: enrolled.id,
        region: enrolled.region,
        claimedId: who.id,
        claimedRegion: who.region,
        permissionDenied: counters.permissionDenied,
      },
      "agent call rejected: AgentInfo differs from the enrollment",
    );
    return details;
  }

  /**
   * Admits a call: the bearer token must belong to an active enrollment and the AgentInfo must be
   * well formed and repeat the enrollment's id and region. Returns the agent as enrolled (region and
   * provider from the enrollment), or the gRPC error to answer with.
   */
  function admit(
    metadata: Metadata,
    info: Parameters<typeof agentIdentity>[0],
    method: string,
    peer: string,
  ): { agent: AgentIdentity } | { error: { code: status; details: string } } {
    const enrolled = authenticated(metadata, method, peer);
    if (!enrolled)
      return { error: { code: status.UNAUTHENTICATED, details: "missing, unknown or revoked agent token" } };
    const who = agentIdentity(info);
    if ("problems" in who) {
      counters.invalidArgument++;
      log.warn({ method, peer, problems: who.problems }, "agent call rejected: invalid AgentInfo");
      return { error: { code: status.INVALID_ARGUMENT, details: who.problems.join("; ") } };
    }
    const denied = impersonation(enrolled, who.agent, method, peer);
    if (denied) return { error: { code: status.PERMISSION_DENIED, details: denied } };
    return { agent: { ...who.agent, region: enrolled.region, provider: enrolled.provider } };
  }

  // The mesh's regions, sorted: agents place each check's runs in their region's slot of the interval.
  // Looked at every `regionsEveryMs` and before each snapshot (an agent enrolled a moment ago gets its
  // own region); a change goes to every open stream.
  let announcedRegions = [...enrollments.regions()].sort();
  const refreshRegions = () => {
    const now = [...enrollments.regions()].sort();
    if (now.join("\n") === announcedRegions.join("\n")) return;
    log.info({ regions: now, previous: announcedRegions }, "mesh regions changed; telling connected agents");
    announcedRegions = now;
    for (const s of streams.values()) s.regionsChanged();
  };
  const regionsTimer = setInterval(refreshRegions, opts.regionsEveryMs ?? 2000);
  regionsTimer.unref();

  // A revoked agent loses its open streams on this replica, wherever the revocation was made.
  const stopRevocations = enrollments.onRevoked((revoked) => {
    for (const s of [...streams.values()]) {
      if (s.agent.id !== revoked.id) continue;
      counters.revokedStreams++;
      s.end(status.PERMISSION_DENIED, "agent revoked");
    }
  });

  const watchAssignments: Handlers["watchAssignments"] = (call) => {
    const peer = call.getPeer();
    const admitted = admit(call.metadata, call.request.agent, "WatchAssignments", peer);
    if ("error" in admitted) {
      call.emit("error", admitted.error);
      return;
    }
    // Its checks are those of its enrolled region (the AgentInfo was just proven to repeat it).
    const agent = admitted.agent;
    if (!registry.ready()) {
      call.emit("error", { code: status.UNAVAILABLE, details: "check registry is not ready" });
      return;
    }

    const streamId = randomUUID();
    const assigned = new Set<string>();
    let ended = false;

    const send = (message: WatchAssignmentsResponse) => {
      // Back-pressure is ignored on purpose: a delta is small and an agent has few checks; the
      // transport's keepalive ends streams to dead agents, which bounds what can pile up.
      call.write(message);
    };
    const sendDelta = (delta: AssignmentDelta) => {
      // Every delta repeats the count, so an agent never publishes on a stale one for longer than a change.
      delta.partitions = partitions;
      delta.regions = announcedRegions;
      counters.deltasSent++;
      send(create(WatchAssignmentsResponseSchema, { event: { case: "delta", value: delta } }));
      log.debug(
        {
          agentId: agent.id,
          version: delta.version,
          upserted: delta.upserted.map((c) => c.id),
          removed: delta.removed,
        },
        "assignment delta sent",
      );
    };

    const cleanup = (reason: string) => {
      if (ended) return;
      ended = true;
      watch.stop();
      streams.delete(streamId);
      void agents.streamClosed(agent.id, streamId);
      log.info({ agentId: agent.id, region: agent.region, streamId, reason }, "agent stream closed");
    };

    // Declared after cleanup, which reads it: cleanup only runs from stream events registered below.
    const watch: RegistryWatch = registry.watch((change) => {
      if (ended) return;
      const delta = assignmentDelta(change, agent, assigned);
      if (delta) sendDelta(delta);
    });
    const checks = assignedChecks(watch.checks, agent);
    for (const c of checks) assigned.add(c.id);
    refreshRegions();
    counters.snapshotsSent++;
    send(
      create(WatchAssignmentsResponseSchema, {
        event: {
          case: "snapshot",
          value: create(AssignmentSnapshotSchema, {
            version: BigInt(watch.version),
            checks,
            partitions,
            regions: announcedRegions,
          }),
        },
      }),
    );

    streams.set(streamId, {
      agent,
      end: (code, details) => {
        cleanup(details);
        call.emit("error", { code, details });
      },
      regionsChanged: () => {
        if (!ended) sendDelta(create(AssignmentDeltaSchema, { version: BigInt(watch.version) }));
      },
    });
    call.on("cancelled", () => cleanup("cancelled by agent"));
    call.on("close", () => cleanup("closed"));
    call.on("error", (err: unknown) => cleanup(`error: ${err instanceof Error ? err.message : String(err)}`));
    void agents.streamOpened(agent, streamId, watch.version);
    if (agent.capabilities.length === 0)
      log.warn(
        { agentId: agent.id, region: agent.region, agentVersion: agent.version },
        "agent announces no capabilities: it is assigned no checks",
      );
    log.info(
      {
        agentId: agent.id,
        region: agent.region,
        provider: agent.provider,
        agentVersion: agent.version,
        knownVersion: call.request.knownVersion,
        version: watch.version,
        capabilities: agent.capabilities,
        checks: checks.length,
        partitions,
        // Checks of its region it is not given: their types are not among its capabilities.
        notRunnable: watch.checks.filter((r) => checkRunsIn(r.check, agent.region)).length - checks.length,
        streamId,
        peer,
      },
      "agent stream opened; snapshot sent",
    );
  };

  const heartbeat: Handlers["heartbeat"] = (call, callback) => {
    const peer = call.getPeer();
    const admitted = admit(call.metadata, call.request.agent, "Heartbeat", peer);
    if ("error" in admitted) {
      callback(admitted.error);
      return;
    }
    counters.heartbeats++;
    const req = call.request;
    // Presence is written in the background: a slow NATS must not delay the agent's liveness answer.
    void agents.heartbeat(admitted.agent, {
      assignmentVersion: Number(req.assignmentVersion),
      outboxDepth: req.outboxDepth,
      lastSeq: Number(req.lastSeq),
      schedulingLagP99Ms: Number.isFinite(req.schedulingLagP99Ms) ? req.schedulingLagP99Ms : 0,
    });
    callback(null, create(HeartbeatResponseSchema, { serverTimeMs: BigInt(now()) }));
  };

  const answerNatsCredentials = createNatsCredentialsHandler({ issuer: opts.natsCredentials, log: opts.log });
  // The credentials are minted for the enrollment (its id and region), never for what the agent claims.
  const getNatsCredentials: Handlers["getNatsCredentials"] = (call, callback) => {
    const peer = call.getPeer();
    const admitted = admit(call.metadata, call.request.agent, "GetNatsCredentials", peer);
    if ("error" in admitted) {
      callback(admitted.error);
      return;
    }
    answerNatsCredentials(admitted.agent, callback);
  };

  return {
    definition: grpcServiceDefinition(AgentServiceDesc),
    implementation: { watchAssignments, heartbeat, getNatsCredentials },
    stats: () => ({ ...counters, openStreams: streams.size }),
    close() {
      clearInterval(regionsTimer);
      stopRevocations();
      for (const s of [...streams.values()]) s.end(status.UNAVAILABLE, "control plane shutting down");
    },
  };
}
