import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { status, type Metadata } from "@grpc/grpc-js";
import {
  AgentService as AgentServiceDesc,
  AssignmentSnapshotSchema,
  grpcServiceDefinition,
  HeartbeatResponseSchema,
  WatchAssignmentsResponseSchema,
  type AssignmentDelta,
  type GrpcServiceDefinition,
  type GrpcServiceImplementation,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import type { Logger } from "pino";
import type { AgentDirectory, AgentIdentity } from "../agents/types.js";
import { bearerMatches } from "../bearer-token.js";
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
  /** PROBEMESH_AGENT_TOKEN: agents send `authorization: Bearer <token>` metadata. */
  token: string;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Mints agents' NATS credentials (GetNatsCredentials). @default none: FAILED_PRECONDITION */
  natsCredentials?: AgentCredentialIssuer;
}

/** Counters of the agent service. */
export interface AgentServiceStats {
  /** Calls rejected for a missing or wrong token. */
  unauthenticated: number;
  /** Calls rejected for a bad AgentInfo. */
  invalidArgument: number;
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
  /** Ends every open assignment stream with UNAVAILABLE (agents then reconnect, maybe elsewhere). */
  close(): void;
}

type Handlers = GrpcServiceImplementation<typeof AgentServiceDesc>;

interface OpenStream {
  agent: AgentIdentity;
  end(code: status, details: string): void;
}

/**
 * The control plane's side of `probemesh.v1.AgentService`: WatchAssignments sends the snapshot of
 * the checks an agent's region runs and its capabilities cover (see `assigns`), then a delta for every registry change that concerns it, as
 * the registry delivers them (same process tick as the change arrives from NATS). Heartbeat records
 * presence. Both need the agent token, compared in constant time.
 */
export function createAgentService(opts: AgentServiceOptions): AgentService {
  const { registry, agents, token } = opts;
  const log = opts.log.child({ component: "agent-service" });
  const now = opts.now ?? Date.now;
  const streams = new Map<string, OpenStream>();
  const counters = { unauthenticated: 0, invalidArgument: 0, snapshotsSent: 0, deltasSent: 0, heartbeats: 0 };

  function authorized(metadata: Metadata, method: string, peer: string): boolean {
    const value = metadata.get("authorization")[0];
    if (bearerMatches(typeof value === "string" ? value : undefined, token)) return true;
    counters.unauthenticated++;
    // Never log what was presented: it may be a near-miss of the real token.
    log.warn(
      { method, peer, unauthenticated: counters.unauthenticated },
      "agent call rejected: missing or invalid bearer token",
    );
    return false;
  }

  const watchAssignments: Handlers["watchAssignments"] = (call) => {
    const peer = call.getPeer();
    if (!authorized(call.metadata, "WatchAssignments", peer)) {
      call.emit("error", { code: status.UNAUTHENTICATED, details: "missing or invalid bearer token" });
      return;
    }
    const who = agentIdentity(call.request.agent);
    if ("problems" in who) {
      counters.invalidArgument++;
      log.warn({ peer, problems: who.problems }, "agent stream rejected: invalid AgentInfo");
      call.emit("error", { code: status.INVALID_ARGUMENT, details: who.problems.join("; ") });
      return;
    }
    const agent = who.agent;
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
    counters.snapshotsSent++;
    send(
      create(WatchAssignmentsResponseSchema, {
        event: {
          case: "snapshot",
          value: create(AssignmentSnapshotSchema, { version: BigInt(watch.version), checks }),
        },
      }),
    );

    streams.set(streamId, {
      agent,
      end: (code, details) => {
        cleanup(details);
        call.emit("error", { code, details });
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
        // Checks of its region it is not given: their types are not among its capabilities.
        notRunnable: watch.checks.filter((r) => checkRunsIn(r.check, agent.region)).length - checks.length,
        streamId,
        peer,
      },
      "agent stream opened; snapshot sent",
    );
  };

  const heartbeat: Handlers["heartbeat"] = (call, callback) => {
    if (!authorized(call.metadata, "Heartbeat", call.getPeer())) {
      callback({ code: status.UNAUTHENTICATED, details: "missing or invalid bearer token" });
      return;
    }
    const who = agentIdentity(call.request.agent);
    if ("problems" in who) {
      counters.invalidArgument++;
      callback({ code: status.INVALID_ARGUMENT, details: who.problems.join("; ") });
      return;
    }
    counters.heartbeats++;
    const req = call.request;
    // Presence is written in the background: a slow NATS must not delay the agent's liveness answer.
    void agents.heartbeat(who.agent, {
      assignmentVersion: Number(req.assignmentVersion),
      outboxDepth: req.outboxDepth,
      lastSeq: Number(req.lastSeq),
      schedulingLagP99Ms: Number.isFinite(req.schedulingLagP99Ms) ? req.schedulingLagP99Ms : 0,
    });
    callback(null, create(HeartbeatResponseSchema, { serverTimeMs: BigInt(now()) }));
  };

  const answerNatsCredentials = createNatsCredentialsHandler({ issuer: opts.natsCredentials, log: opts.log });
  const getNatsCredentials: Handlers["getNatsCredentials"] = (call, callback) => {
    if (!authorized(call.metadata, "GetNatsCredentials", call.getPeer())) {
      callback({ code: status.UNAUTHENTICATED, details: "missing or invalid bearer token" });
      return;
    }
    const who = agentIdentity(call.request.agent);
    if ("problems" in who) {
      counters.invalidArgument++;
      callback({ code: status.INVALID_ARGUMENT, details: who.problems.join("; ") });
      return;
    }
    answerNatsCredentials(who.agent, callback);
  };

  return {
    definition: grpcServiceDefinition(AgentServiceDesc),
    implementation: { watchAssignments, heartbeat, getNatsCredentials },
    stats: () => ({ ...counters, openStreams: streams.size }),
    close() {
      for (const s of [...streams.values()]) s.end(status.UNAVAILABLE, "control plane shutting down");
    },
  };
}
