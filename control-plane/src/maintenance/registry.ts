import { StorageType } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import {
  assertRevision,
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
  type WriteCondition,
} from "../errors.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
import type { MaintenanceWindow } from "./types.js";
import { openKvBucket } from "../jetstream/kv.js";
import type { KvWatchReopens } from "../registry/kv-watch-reopens.js";

/** NATS KV bucket holding the maintenance windows (key = window id). */
export const MAINTENANCE_BUCKET = "probemesh_maintenance";

/** A stored maintenance window. */
export interface MaintenanceRecord {
  window: MaintenanceWindow;
  createdAt: number;
  /** Registry (NATS KV) revision of this version: its ETag. */
  revision: number;
}

/** Where maintenance windows live: NATS KV shared by every replica, followed into memory; a memory fake for tests. */
export interface MaintenanceRegistry {
  /** Opens the bucket and loads it (safe to call again after a failure). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stores a new window; ConflictError when the id exists. */
  create(window: MaintenanceWindow): Promise<MaintenanceRecord>;
  get(id: string): Promise<MaintenanceRecord | undefined>;
  /** Every window, sorted by id. */
  list(): Promise<MaintenanceRecord[]>;
  /** Replaces a window (compare-and-set); NotFoundError when absent, PreconditionFailedError when `cond` names another revision. */
  replace(window: MaintenanceWindow, cond?: WriteCondition): Promise<MaintenanceRecord>;
  /** Deletes a window; false when it did not exist. PreconditionFailedError when `cond` names another revision. */
  delete(id: string, cond?: WriteCondition): Promise<boolean>;
  /** The windows this replica knows now, without waiting (the hook relay decides synchronously). */
  current(): MaintenanceWindow[];
}

type Stored = Omit<MaintenanceRecord, "revision">;

function decode(text: string, revision: number): MaintenanceRecord {
  const s = JSON.parse(text) as Stored;
  if (typeof s !== "object" || s === null || typeof s.window?.id !== "string" || typeof s.window.from !== "number")
    throw new Error("stored maintenance window is malformed");
  return { window: s.window, createdAt: s.createdAt, revision };
}

const encode = (r: Stored): string => JSON.stringify({ window: r.window, createdAt: r.createdAt });

const byId = (a: MaintenanceRecord, b: MaintenanceRecord) => (a.window.id < b.window.id ? -1 : 1);

/** Options of {@link createKvMaintenanceRegistry}. */
export interface KvMaintenanceRegistryOptions {
  nc: NatsConnection;
  /** Copies of its KV bucket in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** How long a read waits for this replica's copy to catch up with the bucket. @default 5000 */
  syncTimeoutMs?: number;
  /** Counts the re-openings of the bucket's watcher (GET /metrics). */
  watchReopens?: KvWatchReopens;
}

/** A {@link MaintenanceRegistry} on the NATS KV bucket {@link MAINTENANCE_BUCKET}, followed with one watcher. */
export function createKvMaintenanceRegistry(opts: KvMaintenanceRegistryOptions): MaintenanceRegistry {
  const log = opts.log.child({ component: "maintenance-registry" });
  const now = opts.now ?? Date.now;
  const syncTimeoutMs = opts.syncTimeoutMs ?? 5000;
  const known = new Map<string, MaintenanceRecord>();
  let kv: KV | undefined;
  let follower: KvFollower | undefined;

  function onEntry(e: KvWatchEntry): void {
    if (e.operation !== "PUT") {
      known.delete(e.key);
      return;
    }
    try {
      known.set(e.key, decode(e.string(), e.revision));
    } catch (err) {
      known.delete(e.key);
      log.error({ err, windowId: e.key }, "skipping malformed maintenance window");
    }
  }
  function started(): { kv: KV; follower: KvFollower } {
    if (!kv || !follower) throw new UnavailableError("maintenance registry is not started");
    return { kv, follower };
  }
  function unavailable(err: unknown): never {
    if (
      err instanceof ConflictError ||
      err instanceof UnavailableError ||
      err instanceof NotFoundError ||
      err instanceof PreconditionFailedError
    )
      throw err;
    throw new UnavailableError(
      `maintenance registry (NATS KV) failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  async function sync(): Promise<void> {
    await started().follower.catchUp(syncTimeoutMs).catch(unavailable);
  }

  return {
    async start() {
      kv ??= await openKvBucket(opts.nc, MAINTENANCE_BUCKET, {
        history: 1,
        storage: StorageType.File,
        ...(opts.replicas ? { replicas: opts.replicas } : {}),
      });
      follower ??= followKv({ kv, log, onEntry, onReopen: opts.watchReopens?.of(MAINTENANCE_BUCKET) });
      await follower.catchUp(Math.max(syncTimeoutMs, 30_000));
      log.info({ bucket: MAINTENANCE_BUCKET, windows: known.size }, "maintenance windows loaded");
    },
    async stop() {
      await follower?.stop();
    },
    async create(window) {
      const s = started();
      const stored: Stored = { window, createdAt: now() };
      let rec: MaintenanceRecord;
      try {
        const revision = await s.kv.create(window.id, encode(stored));
        rec = { ...stored, revision };
        await s.follower.waitForRevision(revision, syncTimeoutMs);
      } catch (err) {
        if (/wrong last sequence|key exists/i.test(String(err)))
          throw new ConflictError(`maintenance window ${JSON.stringify(window.id)} already exists`, { id: window.id });
        return unavailable(err);
      }
      log.info(
        { windowId: window.id, checks: window.checks, from: window.from, to: window.to },
        "maintenance window created",
      );
      return rec;
    },
    async get(id) {
      await sync();
      return known.get(id);
    },
    async list() {
      await sync();
      return [...known.values()].sort(byId);
    },
    async replace(window, cond) {
      const s = started();
      const entry = await s.kv.get(window.id).catch(unavailable);
      if (!entry || entry.operation !== "PUT") throw new NotFoundError("maintenance window", window.id);
      // Compare-and-set on the revision read: of two writers holding the same ETag, one wins.
      assertRevision("maintenance window", window.id, entry.revision, cond);
      const stored: Stored = { window, createdAt: decode(entry.string(), entry.revision).createdAt };
      try {
        const revision = await s.kv.update(window.id, encode(stored), entry.revision);
        await s.follower.waitForRevision(revision, syncTimeoutMs);
        log.info({ windowId: window.id, from: window.from, to: window.to }, "maintenance window replaced");
        return { ...stored, revision };
      } catch (err) {
        if (/wrong last sequence/i.test(String(err)))
          throw cond?.ifRevision !== undefined
            ? new PreconditionFailedError("maintenance window", window.id, undefined)
            : new ConflictError(`maintenance window ${JSON.stringify(window.id)} changed concurrently; retry`);
        return unavailable(err);
      }
    },
    async delete(id, cond) {
      await sync();
      const current = known.get(id);
      if (!current) return false;
      assertRevision("maintenance window", id, current.revision, cond);
      const s = started();
      await s.kv
        .delete(id, cond?.ifRevision !== undefined ? { previousSeq: current.revision } : undefined)
        .catch((err: unknown) => {
          if (/wrong last sequence/i.test(String(err)))
            throw new PreconditionFailedError("maintenance window", id, undefined);
          return unavailable(err);
        });
      await sync();
      log.info({ windowId: id }, "maintenance window deleted");
      return true;
    },
    current: () => [...known.values()].map((r) => r.window),
  };
}

/** An in-memory {@link MaintenanceRegistry}, for tests and single-process use. */
export function createMemoryMaintenanceRegistry({ now = Date.now }: { now?: () => number } = {}): MaintenanceRegistry {
  const windows = new Map<string, MaintenanceRecord>();
  let revision = 0;
  return {
    start: async () => {},
    stop: async () => {},
    async create(window) {
      if (windows.has(window.id))
        throw new ConflictError(`maintenance window ${JSON.stringify(window.id)} already exists`, { id: window.id });
      const rec = { window, createdAt: now(), revision: ++revision };
      windows.set(window.id, rec);
      return rec;
    },
    get: async (id) => windows.get(id),
    list: async () => [...windows.values()].sort(byId),
    async replace(window, cond) {
      const cur = windows.get(window.id);
      if (!cur) throw new NotFoundError("maintenance window", window.id);
      assertRevision("maintenance window", window.id, cur.revision, cond);
      const rec = { window, createdAt: cur.createdAt, revision: ++revision };
      windows.set(window.id, rec);
      return rec;
    },
    async delete(id, cond) {
      const cur = windows.get(id);
      if (cur) assertRevision("maintenance window", id, cur.revision, cond);
      return windows.delete(id);
    },
    current: () => [...windows.values()].map((r) => r.window),
  };
}
