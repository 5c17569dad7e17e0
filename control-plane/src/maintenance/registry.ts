import { StorageType } from "@nats-io/jetstream";
import { type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ConflictError, UnavailableError } from "../errors.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
import type { MaintenanceWindow } from "./types.js";
import { openKvBucket } from "../jetstream/kv.js";

/** NATS KV bucket holding the maintenance windows (key = window id). */
export const MAINTENANCE_BUCKET = "probemesh_maintenance";

/** A stored maintenance window. */
export interface MaintenanceRecord {
  window: MaintenanceWindow;
  createdAt: number;
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
  /** Deletes a window; false when it did not exist. */
  delete(id: string): Promise<boolean>;
  /** The windows this replica knows now, without waiting (the hook relay decides synchronously). */
  current(): MaintenanceWindow[];
}

function decode(text: string): MaintenanceRecord {
  const s = JSON.parse(text) as MaintenanceRecord;
  if (typeof s !== "object" || s === null || typeof s.window?.id !== "string" || typeof s.window.from !== "number")
    throw new Error("stored maintenance window is malformed");
  return s;
}

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
      known.set(e.key, decode(e.string()));
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
    if (err instanceof ConflictError || err instanceof UnavailableError) throw err;
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
      follower ??= followKv({ kv, log, onEntry });
      await follower.catchUp(Math.max(syncTimeoutMs, 30_000));
      log.info({ bucket: MAINTENANCE_BUCKET, windows: known.size }, "maintenance windows loaded");
    },
    async stop() {
      await follower?.stop();
    },
    async create(window) {
      const s = started();
      const rec: MaintenanceRecord = { window, createdAt: now() };
      try {
        const revision = await s.kv.create(window.id, JSON.stringify(rec));
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
    async delete(id) {
      await sync();
      if (!known.has(id)) return false;
      const s = started();
      await s.kv.delete(id).catch(unavailable);
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
  return {
    start: async () => {},
    stop: async () => {},
    async create(window) {
      if (windows.has(window.id))
        throw new ConflictError(`maintenance window ${JSON.stringify(window.id)} already exists`, { id: window.id });
      const rec = { window, createdAt: now() };
      windows.set(window.id, rec);
      return rec;
    },
    get: async (id) => windows.get(id),
    list: async () => [...windows.values()].sort(byId),
    delete: async (id) => windows.delete(id),
    current: () => [...windows.values()].map((r) => r.window),
  };
}
