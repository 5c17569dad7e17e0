import { randomUUID } from "node:crypto";
import { clone } from "@bufbuild/protobuf";
import { StorageType } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { CheckSchema, type Check } from "@probemesh/proto";
import type { Logger } from "pino";
import { assertSameIdentity } from "../checks/validate-check.js";
import {
  assertRevision,
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
  ValidationError,
  type WriteCondition,
} from "../errors.js";
import { SecretBoxError, type SecretBox } from "../trust/secret-box.js";
import { createCheckCache } from "./check-cache.js";
import { casBackoff, isWrongLastSequence } from "./kv-cas.js";
import { followKv, type KvFollower } from "./kv-follower.js";
import { CHECKS_BUCKET, checkIdFromKey, checkKey, decodeCheckEntry, encodeCheckEntry } from "./check-entry.js";
import { withLegacyUid } from "./legacy-uid.js";
import { withUid, type CheckRegistry } from "./types.js";
import { openKvBucket } from "../jetstream/kv.js";
import type { KvWatchReopens } from "./kv-watch-reopens.js";

/** Options of {@link createRegistry}. */
export interface RegistryOptions {
  nc: NatsConnection;
  /** Copies of its KV bucket in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
  log: Logger;
  /** Seals check secrets before they are written and opens them after they are read. */
  secrets: SecretBox;
  /** Clock for createdAt/updatedAt. @default Date.now */
  now?: () => number;
  /** KV bucket name. @default "probemesh_checks" */
  bucket?: string;
  /** How long a read or write waits for the local replica to catch up with the bucket. @default 5000 */
  syncTimeoutMs?: number;
  /** Pause before re-opening a watcher that ended (e.g. NATS restarted). @default 1000 */
  rewatchDelayMs?: number;
  /** Pause before writing back again a stored form that could not be written. @default 5000 */
  rewriteRetryMs?: number;
  /** The bucket, already open (tests); by default `bucket` is opened (or created) on `nc`. */
  kv?: RegistryBucket;
  /** Counts the re-openings of the bucket's watcher (GET /metrics). */
  watchReopens?: KvWatchReopens;
}

/** What the registry uses of its KV bucket. */
export type RegistryBucket = Pick<KV, "watch" | "status" | "get" | "create" | "update" | "delete">;

/** The NATS KV registry; `start()` before use, `stop()` at shutdown. */
export interface NatsRegistry extends CheckRegistry {
  /** Opens (or creates) the bucket, loads every check and starts following changes. */
  start(): Promise<void>;
  /** Stops following changes. */
  stop(): Promise<void>;
  /** Counters for logs and tests. */
  stats(): RegistryStats;
}

/** Counters of a {@link NatsRegistry}. */
export interface RegistryStats {
  revision: number;
  corruptEntries: number;
  /** Times the bucket's watcher was re-opened (it ended, or stalled). */
  watchRestarts: number;
  /** Of those, times it was re-opened because it stopped delivering while the bucket moved on. */
  watchStalls: number;
  staleSecrets: number;
  /** Stored checks without a uid, served with their derived uid, not yet written back with it. */
  uidless: number;
  /** Stored checks this replica wrote back with their derived uid. */
  uidsWritten: number;
}

// Compare-and-set retries: every round one contender wins, so this covers many concurrent writers.
const WRITE_ATTEMPTS = 16;

/**
 * A check registry in the NATS KV bucket `probemesh_checks` (history 1, file storage), shared by
 * every control-plane replica. Each replica follows the bucket with one watcher into an in-memory
 * cache; the KV revision (the bucket stream's sequence) is the registry-wide, monotonically
 * increasing version that assignment snapshots and deltas carry. Reads first catch up with the
 * bucket's last revision, so a replica always sees writes made before the read began.
 */
export function createRegistry(opts: RegistryOptions): NatsRegistry {
  const { nc } = opts;
  const log = opts.log.child({ component: "registry" });
  const now = opts.now ?? Date.now;
  const bucket = opts.bucket ?? CHECKS_BUCKET;
  const syncTimeoutMs = opts.syncTimeoutMs ?? 5000;
  const rewatchDelayMs = opts.rewatchDelayMs ?? 1000;
  const rewriteRetryMs = opts.rewriteRetryMs ?? 5000;
  const box = opts.secrets;
  // Checks whose stored secrets are in clear or under an older key: sealed again at start.
  const stale = new Set<string>();
  // Checks stored without a uid (from before uids): served with their derived uid and written back.
  const uidless = new Set<string>();
  const cache = createCheckCache({ log });
  let kv: RegistryBucket | undefined = opts.kv;
  let follower: KvFollower | undefined;
  let started = false;
  let stopped = false;
  let corruptEntries = 0;
  let uidsWritten = 0;
  let rewriteTimer: NodeJS.Timeout | undefined;
  let rewriting: Promise<void> | undefined;

  function bucketKv(): RegistryBucket {
    if (!kv || stopped) throw new UnavailableError("check registry is not started");
    return kv;
  }

  function onEntry(e: KvWatchEntry): void {
    const id = checkIdFromKey(e.key);
    if (id === undefined) {
      log.warn({ key: e.key, revision: e.revision }, "ignoring a key that is not a check id");
      cache.advance(e.revision);
      return;
    }
    stale.delete(id);
    uidless.delete(id);
    if (e.operation !== "PUT") {
      cache.apply(e.revision, id, undefined);
      return;
    }
    try {
      const { stale: isStale, ...decoded } = decodeCheckEntry(e.string(), e.revision, box);
      if (isStale) stale.add(id);
      // Never served without a uid: agents would publish its results where no decider reads.
      const { record, migrated } = withLegacyUid(decoded);
      if (migrated) {
        uidless.add(id);
        if (started) scheduleRewrite(0);
      }
      cache.apply(e.revision, id, record);
    } catch (err) {
      corruptEntries++;
      if (err instanceof SecretBoxError) {
        // A key missing from PROBEMESH_SECRET_KEY is an operator's slip, not a deletion: keep what
        // this replica knew of the check (deleting it would abandon its incidents).
        log.error(
          { err: err.message, id, revision: e.revision },
          "check secrets unreadable; keeping the last readable version",
        );
        cache.advance(e.revision);
        return;
      }
      // A bad value must not stop the watcher; agents stop running that check until it is fixed.
      log.error({ err, id, revision: e.revision }, "corrupt check entry in the registry; treating it as deleted");
      cache.apply(e.revision, id, undefined);
    }
  }

  // Waits until this replica's cache reflects everything in the bucket at the time of the call.
  async function sync(): Promise<void> {
    bucketKv();
    if (!follower) throw new UnavailableError("check registry is not started");
    await follower.catchUp(syncTimeoutMs);
  }

  async function settle(revision: number): Promise<void> {
    if (!follower) throw new UnavailableError("check registry is not started");
    await follower.waitForRevision(revision, syncTimeoutMs);
  }

  async function write<T>(what: string, id: string, fn: (store: RegistryBucket) => Promise<T>): Promise<T> {
    const store = bucketKv();
    try {
      return await fn(store);
    } catch (err) {
      if (
        err instanceof ConflictError ||
        err instanceof NotFoundError ||
        err instanceof ValidationError ||
        err instanceof PreconditionFailedError
      )
        throw err;
      throw new UnavailableError(`check registry ${what} of ${JSON.stringify(id)} failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * Writes back, with compare-and-set on the revision read, every check whose stored form differs
   * from what this replica serves: stored without a uid (written with its derived uid, same version),
   * or with secrets in clear or under an older key (sealed with the current key: the rotation path).
   * Of replicas doing this at once, one write lands; the others lose the compare-and-set and read the
   * winner's entry through the watcher (the same derived uid). A concurrent edit wins the same way.
   * A write that fails otherwise is retried after `rewriteRetryMs`; failures are logged, not fatal.
   */
  async function rewriteStored(store: RegistryBucket): Promise<void> {
    const ids = new Set([...uidless, ...(box.sealing ? stale : [])]);
    if (ids.size === 0) return;
    let written = 0;
    let failed = 0;
    for (const id of ids) {
      const record = cache.get(id);
      if (!record) continue;
      const { revision, ...stored } = record;
      // Read before the write: the watcher may hand back the written entry before update() returns.
      const givesUid = uidless.has(id);
      try {
        await store.update(checkKey(id), encodeCheckEntry(stored, box), revision);
        written++;
        if (givesUid) uidsWritten++;
      } catch (err) {
        if (isWrongLastSequence(err)) continue;
        failed++;
        log.warn({ err: errorMessage(err), id }, "could not write a check's stored form again");
      }
    }
    await follower?.catchUp(syncTimeoutMs).catch(() => undefined);
    log.info(
      { written, failed, uidless: uidless.size, staleSecrets: stale.size, keyId: box.currentKeyId },
      "wrote back stored checks without a uid or with secrets under an older key",
    );
    if (failed > 0) scheduleRewrite(rewriteRetryMs);
  }

  function scheduleRewrite(delayMs: number): void {
    if (stopped || rewriteTimer) return;
    rewriteTimer = setTimeout(() => {
      rewriteTimer = undefined;
      if (stopped || !kv) return;
      if (rewriting) {
        scheduleRewrite(delayMs);
        return;
      }
      rewriting = rewriteStored(kv).finally(() => (rewriting = undefined));
    }, delayMs);
    rewriteTimer.unref();
  }

  return {
    // Safe to call again after a failure (main retries it while NATS or JetStream comes up).
    async start() {
      if (started) return;
      const store: RegistryBucket = (kv ??= await openKvBucket(nc, bucket, {
        history: 1,
        storage: StorageType.File,
        ...(opts.replicas ? { replicas: opts.replicas } : {}),
      }));
      follower ??= followKv({ kv: store, log, onEntry, rewatchDelayMs, onReopen: opts.watchReopens?.of(bucket) });
      await follower.catchUp(Math.max(syncTimeoutMs, 30_000));
      started = true;
      log.info({ bucket, revision: cache.revision, checks: cache.list().length }, "check registry loaded");
      // Before start() returns: main serves agents and deciders only after it.
      await rewriteStored(store);
    },

    async stop() {
      stopped = true;
      clearTimeout(rewriteTimer);
      await rewriting;
      await follower?.stop();
    },

    ready: () => started && !stopped && kv !== undefined && !nc.isClosed(),

    stats: () => ({
      revision: cache.revision,
      corruptEntries,
      watchRestarts: follower?.restarts ?? 0,
      watchStalls: follower?.stalls ?? 0,
      staleSecrets: stale.size,
      uidless: uidless.size,
      uidsWritten,
    }),

    async create(check: Check) {
      const id = check.id;
      const record = await write("create", id, async (store) => {
        const at = now();
        const stored = { check: withVersion(withUid(check, randomUUID()), 1), createdAt: at, updatedAt: at };
        let revision: number;
        try {
          revision = await store.create(checkKey(id), encodeCheckEntry(stored, box));
        } catch (err) {
          const existing = await store.get(checkKey(id)).catch(() => null);
          if (existing?.operation === "PUT")
            throw new ConflictError(`check ${JSON.stringify(id)} already exists`, { id });
          throw err;
        }
        return { ...stored, revision };
      });
      await settle(record.revision);
      log.info({ id, version: record.check.version, revision: record.revision }, "check created");
      return record;
    },

    async replace(check: Check, cond?: WriteCondition) {
      const id = check.id;
      const record = await write("replace", id, async (store) => {
        for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
          const entry = await store.get(checkKey(id));
          if (!entry || entry.operation !== "PUT") throw new NotFoundError("check", id);
          // Compare-and-set below: of two writers holding the same ETag, the loser reads the new revision here.
          assertRevision("check", id, entry.revision, cond);
          // A check stored without a uid gets its derived uid here too (the one this replica serves).
          const previous = withLegacyUid(decodeCheckEntry(entry.string(), entry.revision, box)).record;
          // Checked again here, atomically with the write: a concurrent replace may have raced the API's check.
          assertSameIdentity(previous.check, check);
          const stored = {
            check: withVersion(withUid(check, previous.check.uid), previous.check.version + 1),
            createdAt: previous.createdAt,
            updatedAt: now(),
          };
          try {
            const revision = await store.update(checkKey(id), encodeCheckEntry(stored, box), entry.revision);
            return { ...stored, revision };
          } catch (err) {
            if (!isWrongLastSequence(err)) throw err;
            await casBackoff(attempt);
          }
        }
        throw new ConflictError(`check ${JSON.stringify(id)} is being changed concurrently; retry`, { id });
      });
      await settle(record.revision);
      log.info({ id, version: record.check.version, revision: record.revision }, "check replaced");
      return record;
    },

    async delete(id: string, cond?: WriteCondition) {
      await write("delete", id, async (store) => {
        for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
          const entry = await store.get(checkKey(id));
          if (!entry || entry.operation !== "PUT") throw new NotFoundError("check", id);
          assertRevision("check", id, entry.revision, cond);
          try {
            await store.delete(checkKey(id), { previousSeq: entry.revision });
            return;
          } catch (err) {
            if (!isWrongLastSequence(err)) throw err;
            await casBackoff(attempt);
          }
        }
        throw new ConflictError(`check ${JSON.stringify(id)} is being changed concurrently; retry`, { id });
      });
      // The delete marker's revision is not returned by the client: catch up with the bucket instead.
      await sync();
      log.info({ id, revision: cache.revision }, "check deleted");
    },

    async get(id: string) {
      await sync();
      return cache.get(id);
    },

    async list() {
      await sync();
      return cache.list();
    },

    watch: (listener) => cache.watch(listener),
  };
}

function withVersion(check: Check, version: number): Check {
  const copy = clone(CheckSchema, check);
  copy.version = version;
  return copy;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
