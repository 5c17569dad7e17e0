import { randomUUID } from "node:crypto";
import { StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { UnavailableError } from "../errors.js";
import { casBackoff, isWrongLastSequence } from "../registry/kv-cas.js";
import {
  agentView,
  byId,
  parseAgentRecord,
  STALE_AFTER_MS,
  withHeartbeat,
  withStreamAlive,
  withStreamClosed,
  withStreamOpened,
} from "./presence.js";
import type { AgentDirectory, AgentRecord } from "./types.js";

/** NATS KV bucket holding agent presence. */
export const AGENTS_BUCKET = "probemesh_agents";

/** Options of {@link createAgentDirectory}. */
export interface AgentDirectoryOptions {
  nc: NatsConnection;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Identifies this control-plane replica in stream records. @default a random UUID */
  replicaId?: string;
  /** KV bucket name. @default "probemesh_agents" */
  bucket?: string;
  /** How often this replica refreshes `lastSeenAt` of the agents whose streams it holds. @default 5000 */
  refreshIntervalMs?: number;
  /** Seen longer ago than this, an agent is not connected even with a stream on record. @default 15000 */
  staleAfterMs?: number;
  /** Agents silent for this long disappear from the bucket (bucket max age). @default 7 days */
  forgetAfterMs?: number;
}

/** The NATS KV agent directory; `start()` before use, `stop()` at shutdown. */
export interface NatsAgentDirectory extends AgentDirectory {
  start(): Promise<void>;
  /** Stops refreshing; the streams this replica held turn stale (not connected) within 15 s. */
  stop(): Promise<void>;
  /** Counters for logs and tests. */
  stats(): { writeErrors: number; openStreams: number };
}

const WRITE_ATTEMPTS = 16;

/**
 * Agent presence in the NATS KV bucket `probemesh_agents`, so that any replica can answer
 * GET /v1/agents. Writes are read-modify-write with revision compare-and-set; one agent's writes
 * are serialised inside a replica. While a replica holds an agent's stream it refreshes
 * `lastSeenAt`, so a crashed replica's agents turn "not connected" once that goes stale.
 */
export function createAgentDirectory(opts: AgentDirectoryOptions): NatsAgentDirectory {
  const log = opts.log.child({ component: "agents" });
  const now = opts.now ?? Date.now;
  const replica = opts.replicaId ?? randomUUID();
  const bucket = opts.bucket ?? AGENTS_BUCKET;
  const refreshIntervalMs = opts.refreshIntervalMs ?? 5000;
  const staleAfterMs = opts.staleAfterMs ?? STALE_AFTER_MS;
  const forgetAfterMs = opts.forgetAfterMs ?? 7 * 24 * 3_600_000;
  let kv: KV | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writeErrors = 0;
  // Streams this replica holds: agent id -> stream id.
  const open = new Map<string, string>();
  // When this replica last wrote an agent's lastSeenAt (to skip redundant refreshes).
  const lastWritten = new Map<string, number>();
  const queues = new Map<string, Promise<void>>();

  function store(): KV {
    if (!kv) throw new UnavailableError("agent directory is not started");
    return kv;
  }

  async function mutateOnce(id: string, fn: (prev: AgentRecord | undefined) => AgentRecord | undefined): Promise<void> {
    const k = store();
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const entry = await k.get(id);
      const prev = entry?.operation === "PUT" ? parseAgentRecord(entry.string()) : undefined;
      const next = fn(prev);
      if (!next) return;
      try {
        if (entry) await k.update(id, JSON.stringify(next), entry.revision);
        else await k.create(id, JSON.stringify(next));
        lastWritten.set(id, next.lastSeenAt);
        return;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        await casBackoff(attempt);
      }
    }
    throw new Error(`agent ${id}: too many concurrent updates`);
  }

  // One agent's updates run one after another in this replica; others run in parallel. Presence is
  // best effort: a failed write is counted and logged, never thrown at the gRPC handlers.
  function mutate(id: string, what: string, fn: (prev: AgentRecord | undefined) => AgentRecord | undefined): Promise<void> {
    const prev = queues.get(id) ?? Promise.resolve();
    const run = prev.then(() => mutateOnce(id, fn));
    const settled = run.catch((err: unknown) => {
      writeErrors++;
      log.warn({ err, agentId: id, what }, "agent presence update failed");
    });
    queues.set(id, settled);
    void settled.then(() => {
      if (queues.get(id) === settled) queues.delete(id);
    });
    return settled;
  }

  function refresh(): void {
    const at = now();
    for (const [agentId, streamId] of open) {
      if (at - (lastWritten.get(agentId) ?? 0) < refreshIntervalMs) continue;
      void mutate(agentId, "refresh", (prev) => withStreamAlive(prev, streamId, at));
    }
  }

  return {
    async start() {
      if (kv) return;
      kv = await new Kvm(opts.nc).create(bucket, { history: 1, storage: StorageType.File, ttl: forgetAfterMs });
      timer = setInterval(refresh, Math.max(250, Math.floor(refreshIntervalMs / 2)));
      timer.unref();
      log.info({ bucket, replica }, "agent directory ready");
    },

    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await Promise.allSettled([...queues.values()]);
    },

    stats: () => ({ writeErrors, openStreams: open.size }),

    async streamOpened(agent, streamId, assignmentVersion) {
      open.set(agent.id, streamId);
      await mutate(agent.id, "stream opened", (prev) =>
        withStreamOpened(prev, agent, { id: streamId, replica }, assignmentVersion, now()),
      );
    },

    async streamClosed(agentId, streamId) {
      if (open.get(agentId) === streamId) open.delete(agentId);
      await mutate(agentId, "stream closed", (prev) => withStreamClosed(prev, streamId, now()));
    },

    async heartbeat(agent, stats) {
      await mutate(agent.id, "heartbeat", (prev) => withHeartbeat(prev, agent, stats, now()));
    },

    async list() {
      const k = store();
      const records: AgentRecord[] = [];
      try {
        const iter = await k.history();
        for await (const e of iter) {
          if (e.operation !== "PUT") continue;
          const r = parseAgentRecord(e.string());
          if (r) records.push(r);
        }
      } catch (err) {
        throw new UnavailableError(`agent directory unavailable: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      // With history 1 each key appears once; keep the newest in case a write raced the listing.
      const latest = new Map(records.map((r) => [r.id, r]));
      const at = now();
      return [...latest.values()].map((r) => agentView(r, at, staleAfterMs)).sort(byId);
    },
  };
}
