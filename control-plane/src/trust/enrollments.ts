import { StorageType } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { subjectToken } from "../checks/rules.js";
import { ConflictError, UnavailableError, ValidationError } from "../errors.js";
import { isWrongLastSequence } from "../registry/kv-cas.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
import type { Enrollment, Enrollments } from "./enrollment.js";
import { createEnrollmentIndex, decodeEnrollment, enrolledAgent, type EnrollmentRecord } from "./enrollment-index.js";
import { hashToken, newToken } from "./token.js";
import { openKvBucket } from "../jetstream/kv.js";
import type { KvWatchReopens } from "../registry/kv-watch-reopens.js";

/** NATS KV bucket of the enrollments (key = agent id). */
export const ENROLLMENTS_BUCKET = "probemesh_enrollments";

/** Prefix of agent tokens. */
export const AGENT_TOKEN_PREFIX = "pma_";

/** What an operator gives to enroll an agent. */
export interface EnrollRequest {
  id: string;
  region: string;
  provider: string;
}

const PROVIDER = /^[\x20-\x7e]{0,64}$/;

/** Refuses an id, region or provider the gRPC AgentInfo check would refuse too. */
export function validateEnrollRequest(req: EnrollRequest): void {
  const problems: { field: string; message: string }[] = [];
  const idProblem = subjectToken(req.id);
  if (idProblem) problems.push({ field: "id", message: idProblem });
  const regionProblem = subjectToken(req.region);
  if (regionProblem) problems.push({ field: "region", message: regionProblem });
  if (!PROVIDER.test(req.provider))
    problems.push({ field: "provider", message: "must be at most 64 printable ASCII characters" });
  const first = problems[0];
  if (first)
    throw new ValidationError(`invalid agent: ${first.field}: ${first.message}`, { field: first.field, problems });
}

const conflict = (id: string) => new ConflictError(`agent ${JSON.stringify(id)} is already enrolled`, { id });

/** Enrollments with start/stop (the KV implementation follows its bucket). */
export interface EnrollmentStore extends Enrollments {
  /** Opens the bucket and loads it (safe to call again after a failure). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link createMemoryEnrollments}. */
export interface MemoryEnrollmentsOptions {
  /** @default Date.now */
  now?: () => number;
}

/** In-memory {@link Enrollments}, for unit tests and single-process use. */
export function createMemoryEnrollments(opts: MemoryEnrollmentsOptions = {}): EnrollmentStore {
  const now = opts.now ?? Date.now;
  const index = createEnrollmentIndex({ hash: hashToken });
  return {
    start: async () => {},
    stop: async () => {},
    async enroll(req) {
      validateEnrollRequest(req);
      if (index.record(req.id)) throw conflict(req.id);
      const token = newToken(AGENT_TOKEN_PREFIX);
      const record: EnrollmentRecord = {
        id: req.id,
        region: req.region,
        provider: req.provider,
        createdAt: new Date(now()).toISOString(),
        tokenHash: hashToken(token),
      };
      index.put(record);
      return { agent: enrolledAgent(record), token };
    },
    async revoke(id) {
      const r = index.record(id);
      if (!r) return false;
      if (r.revokedAt === undefined) index.put({ ...r, revokedAt: new Date(now()).toISOString() });
      return true;
    },
    get: index.get,
    list: index.list,
    authenticate: index.authenticate,
    mayVote: index.mayVote,
    regions: index.regions,
    onRevoked: index.onRevoked,
  };
}

/** Options of {@link createKvEnrollments}. */
export interface KvEnrollmentsOptions {
  nc: NatsConnection;
  /** Copies of its KV bucket in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** How long a write waits for this replica's copy to have it. @default 5000 */
  syncTimeoutMs?: number;
  /** Counts the re-openings of the bucket's watcher (GET /metrics). */
  watchReopens?: KvWatchReopens;
}

/**
 * {@link Enrollments} in the NATS KV bucket {@link ENROLLMENTS_BUCKET}, shared by every replica and
 * followed into memory with one watcher: reads never wait, and a revocation made on any replica
 * reaches this one's `onRevoked` listeners as soon as the watcher delivers it. Writes use create()
 * and compare-and-set, so two replicas never enroll the same id twice.
 */
export function createKvEnrollments(opts: KvEnrollmentsOptions): EnrollmentStore {
  const log = opts.log.child({ component: "enrollments" });
  const now = opts.now ?? Date.now;
  const syncTimeoutMs = opts.syncTimeoutMs ?? 5000;
  const index = createEnrollmentIndex({
    hash: hashToken,
    onListenerError: (err, agent) => log.error({ err, agentId: agent.id }, "revocation listener threw"),
  });
  let kv: KV | undefined;
  let follower: KvFollower | undefined;

  function onEntry(e: KvWatchEntry): void {
    if (e.operation !== "PUT") {
      index.remove(e.key);
      return;
    }
    try {
      const r = decodeEnrollment(e.string());
      if (r.id !== e.key) throw new Error(`stored under key ${JSON.stringify(e.key)}`);
      index.put(r);
    } catch (err) {
      index.remove(e.key);
      log.error({ err, agentId: e.key }, "skipping malformed enrollment (the agent is refused)");
    }
  }
  function started(): { kv: KV; follower: KvFollower } {
    if (!kv || !follower) throw new UnavailableError("enrollments are not started");
    return { kv, follower };
  }
  function unavailable(err: unknown): never {
    if (err instanceof ConflictError || err instanceof UnavailableError || err instanceof ValidationError) throw err;
    throw new UnavailableError(`enrollments (NATS KV) failed: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }

  return {
    async start() {
      kv ??= await openKvBucket(opts.nc, ENROLLMENTS_BUCKET, {
        history: 1,
        storage: StorageType.File,
        ...(opts.replicas ? { replicas: opts.replicas } : {}),
      });
      follower ??= followKv({ kv, log, onEntry, onReopen: opts.watchReopens?.of(ENROLLMENTS_BUCKET) });
      await follower.catchUp(Math.max(syncTimeoutMs, 30_000));
      log.info({ bucket: ENROLLMENTS_BUCKET, agents: index.list().length }, "enrollments loaded");
    },
    async stop() {
      await follower?.stop();
    },
    async enroll(req): Promise<Enrollment> {
      validateEnrollRequest(req);
      const s = started();
      const token = newToken(AGENT_TOKEN_PREFIX);
      const record: EnrollmentRecord = {
        id: req.id,
        region: req.region,
        provider: req.provider,
        createdAt: new Date(now()).toISOString(),
        tokenHash: hashToken(token),
      };
      try {
        // create() fails when the key exists, revoked ids included: an id is never reused.
        const revision = await s.kv.create(req.id, JSON.stringify(record));
        await s.follower.waitForRevision(revision, syncTimeoutMs);
      } catch (err) {
        if (isWrongLastSequence(err) || /wrong last sequence|key exists/i.test(String(err))) throw conflict(req.id);
        return unavailable(err);
      }
      log.info({ agentId: req.id, region: req.region, provider: req.provider }, "agent enrolled");
      return { agent: enrolledAgent(record), token };
    },
    async revoke(id) {
      const s = started();
      // Compare-and-set on the revision read: a concurrent write makes us read again.
      for (let attempt = 0; ; attempt++) {
        let entry;
        try {
          entry = await s.kv.get(id);
        } catch (err) {
          return unavailable(err);
        }
        if (!entry || entry.operation !== "PUT") return false;
        let record: EnrollmentRecord;
        try {
          record = decodeEnrollment(entry.string());
        } catch (err) {
          return unavailable(err);
        }
        if (record.revokedAt !== undefined) {
          await s.follower.waitForRevision(entry.revision, syncTimeoutMs).catch(unavailable);
          return true;
        }
        try {
          const revision = await s.kv.update(
            id,
            JSON.stringify({ ...record, revokedAt: new Date(now()).toISOString() }),
            entry.revision,
          );
          await s.follower.waitForRevision(revision, syncTimeoutMs);
        } catch (err) {
          if (isWrongLastSequence(err) && attempt < 10) continue;
          return unavailable(err);
        }
        log.info({ agentId: id, region: record.region }, "agent revoked");
        return true;
      }
    },
    get: index.get,
    list: index.list,
    authenticate: index.authenticate,
    mayVote: index.mayVote,
    regions: index.regions,
    onRevoked: index.onRevoked,
  };
}
