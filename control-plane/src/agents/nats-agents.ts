import { randomUUID } from "node:crypto";
import { StorageType } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { UnavailableError } from "../errors.js";
import { casBackoff, isWrongLastSequence } from "../registry/kv-cas.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
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
import { openKvBucket } from "../jetstream/kv.js";
import type { KvWatchReopens } from "../registry/kv-watch-reopens.js";

/** NATS KV bucket holding agent presence. */
export const AGENTS_BUCKET = "probemesh_agents";

/** Options of {@link createAgentDirectory}. */
export interface AgentDirectoryOptions {
  nc: NatsConnection;
  /** Copies of its KV bucket in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
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
  /** Counts the re-openings of the bucket's watcher (GET /metrics). */
  watchReopens?: KvWatchReopens;
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
 * Agent presence in the NATS KV bucket `probemesh_agents`, mirrored in memory by every replica so
 * that any of them answers GET /v1/agents. Writes are read-modify-write with revision compare-and-set; one agent's writes
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
  const records = new Map<string, AgentRecord>();
  let follower: KvFollower | undefined;

  // Every replica mirrors the bucket, so GET /v1/agents is answered from memory after catching up.
  function onEntry(e: KvWatchEntry): void {
    const record = e.operation === "PUT" ? parseAgentRecord(e.string()) : undefined;
    if (record) records.set(e.key, record);
    else records.delete(e.key);
  }

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
  function mutate(
    id: string,
    what: string,
    fn: (prev: AgentRecord | undefined) => AgentRecord | undefined,
  ): Promise<void> {
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
      if (follower) return;
      const store = (kv ??= await openKvBucket(opts.nc, bucket, {
        ...(opts.replicas ? { replicas: opts.replicas } : {}),
        history: 1,
        storage: StorageType.File,
        ttl: forgetAfterMs,
      }));
      const f = followKv({ kv: store, log, onEntry, onReopen: opts.watchReopens?.of(bucket) });
      await f.catchUp(30_000).catch(async (err: unknown) => {
        await f.stop();
        throw err;
      });
      follower = f;
      timer = setInterval(refresh, Math.max(250, Math.floor(refreshIntervalMs / 2)));
      timer.unref();
      log.info({ bucket, replica }, "agent directory ready");
    },

    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await Promise.allSettled([...queues.values()]);
      await follower?.stop();
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
      if (!follower) throw new UnavailableError("agent directory is not started");
      await follower.catchUp(5000);
      const at = now();
      return [...records.values()]
        .filter((r) => at - r.lastSeenAt < forgetAfterMs)
        .map((r) => agentView(r, at, staleAfterMs))
        .sort(byId);
    },
  };
}
