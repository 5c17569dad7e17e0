// Partition leases on a NATS KV bucket: every replica watches the bucket, claims free or expired
// partitions with compare-and-set, renews what it holds every round and judges expiry only on its
// own monotonic clock. See README "Replicas and partitions".
import { performance } from "node:perf_hooks";
import { JetStreamApiCodes, JetStreamApiError, StorageType, jetstream } from "@nats-io/jetstream";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ValidationError } from "../errors.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
import { sleep } from "../sleep.js";
import type { FenceVerdict, LeaseLossReason, LeaseStats, LeaseView, PartitionLease, PartitionLeases } from "./types.js";
import type { KvWatchReopens } from "../registry/kv-watch-reopens.js";

/** NATS KV bucket holding the partition leases and replica presence. */
export const LEASES_BUCKET = "probemesh_leases";

/** Options of {@link createPartitionLeases}. */
export interface PartitionLeasesOptions {
  nc: NatsConnection;
  /** This replica's id: a KV key token (letters, digits, `-`, `_`, `=`). */
  replicaId: string;
  /** Number of partitions of the mesh (1..1024). */
  partitions: number;
  log: Logger;
  /** A lease not renewed for this long (by the observer's monotonic clock) may be claimed by another replica. @default 3000 */
  ttlMs?: number;
  /** Interval between rounds (presence, renewals, expiry, fair share). @default 1000 */
  renewMs?: number;
  /** @default "probemesh_leases" */
  bucket?: string;
  /** Replicas of the bucket's stream (only on create). @default 1 */
  replicas?: number;
  /** Local monotonic clock in ms; never compared across machines. @default performance.now */
  monotonicNow?: () => number;
  /** The lease bucket (tests); opened (created if needed) on the NATS connection otherwise. */
  kv?: LeaseBucket;
  /** Counts the re-openings of the bucket's watcher (GET /metrics). */
  watchReopens?: KvWatchReopens;
}

/** The part of a NATS KV bucket the leases use (tests drive them with a fake). */
export type LeaseBucket = Pick<KV, "create" | "update" | "put" | "get" | "delete" | "watch" | "status">;

/** Partitions a replica should hold when `alive` replicas share `partitions`. */
export function fairShare(partitions: number, alive: number): number {
  return Math.ceil(partitions / Math.max(1, alive));
}

/** Where an epoch of a partition began (`since` = NATS server time, epoch ms). */
export interface EpochStart {
  epoch: number;
  since: number;
}

/**
 * The fencing rule: something published under `epoch` at server time `publishedAt` is stale when a
 * later epoch of the partition had already begun at that time.
 */
export function fenceVerdict(starts: readonly EpochStart[], epoch: number, publishedAt: number): FenceVerdict {
  return starts.some((s) => s.epoch > epoch && s.since <= publishedAt) ? "stale" : "current";
}

/** What a replica has watched of one lease key. */
export interface WatchedLease {
  /** The key's last revision (its stream sequence). */
  revision: number;
  /** Deleted or purged (released, or the owner stopped). */
  deleted: boolean;
  /** Local monotonic time at which this revision was first seen. */
  seenAt: number;
}

/** How a lease key may be claimed now: `create` when free, `update` on its revision, or not at all. */
export type ClaimMode = "create" | "update" | false;

/**
 * Whether a partition's lease may be claimed at local time `now`: free (never written, released),
 * still at the revision this process itself last wrote (a lease of ours that expired: nobody else has
 * written since, so nobody else holds it), or unchanged for `ttlMs` as seen from here, so that its
 * owner's own validity (send time of its last write + ttl) has ended too.
 */
export function claimMode(
  w: WatchedLease | undefined,
  ownRevision: number | undefined,
  now: number,
  ttlMs: number,
): ClaimMode {
  if (!w || w.deleted) return "create";
  if (w.revision === ownRevision) return "update";
  return now - w.seenAt >= ttlMs ? "update" : false;
}

/**
 * Partitions in the order a replica tries them: free ones first, then its own leftovers, then expired
 * ones, each group starting at an offset derived from the replica id so that replicas starting
 * together do not all race for partition 0.
 */
export function claimOrder(
  partitions: number,
  replicaId: string,
  mode: (partition: number) => ClaimMode,
  isOwn: (partition: number) => boolean,
): { partition: number; mode: "create" | "update" }[] {
  const offset = hash(replicaId) % partitions;
  const out: { partition: number; mode: "create" | "update"; rank: number; order: number }[] = [];
  for (let i = 0; i < partitions; i++) {
    const p = (offset + i) % partitions;
    const m = mode(p);
    if (!m) continue;
    out.push({ partition: p, mode: m, rank: m === "create" ? 0 : isOwn(p) ? 1 : 2, order: i });
  }
  out.sort((a, b) => a.rank - b.rank || a.order - b.order);
  return out.map(({ partition, mode: m }) => ({ partition, mode: m }));
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Epoch starts kept per partition for {@link fenceVerdict}. */
const EPOCH_HISTORY = 16;
/** A departed replica's presence key is removed once unchanged for this many ttls. */
const PRESENCE_GC_TTLS = 10;

/** A lease this replica holds. */
interface Held {
  partition: number;
  epoch: number;
  since: number;
  /** Last revision of the key written by this replica. */
  revision: number;
  /** Local monotonic time until which the lease is valid: send time of the last successful write + ttl. */
  validUntil: number;
  /** Its onAcquired callbacks have started (so onLost must reach them). */
  dispatched: boolean;
}

interface WatchedPartition extends WatchedLease {
  view?: LeaseView;
  starts: EpochStart[];
}

interface LeaseValue {
  owner: string;
  epoch?: number;
  since?: number;
}

function decodeValue(e: KvWatchEntry): LeaseValue {
  const v = e.json<LeaseValue>();
  if (typeof v !== "object" || v === null || typeof v.owner !== "string") throw new Error("malformed lease value");
  return v;
}

function isCasConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

const KEY_TOKEN = /^[-_=A-Za-z0-9]+$/;

/** An error's message and its cause's (no stack: these repeat every round while NATS elects a leader). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}

/**
 * The partition leases of one replica on the KV bucket `probemesh_leases`: keys `partition.<n>`
 * (`{"owner","epoch","since"}`) and `replica.<id>` (`{"at"}`, presence for the fair share).
 */
export function createPartitionLeases(opts: PartitionLeasesOptions): PartitionLeases & { stats(): LeaseStats } {
  const { nc, replicaId, partitions } = opts;
  if (!KEY_TOKEN.test(replicaId))
    throw new ValidationError(`replica id ${JSON.stringify(replicaId)} is not a KV key token`, { field: "replicaId" });
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024)
    throw new ValidationError(`partitions must be an integer in 1..1024, got ${partitions}`, { field: "partitions" });
  const ttlMs = opts.ttlMs ?? 3000;
  const renewMs = opts.renewMs ?? 1000;
  const bucket = opts.bucket ?? LEASES_BUCKET;
  const now = opts.monotonicNow ?? (() => performance.now());
  const log = opts.log.child({ component: "partition-leases", replicaId });

  const held = new Map<number, Held>();
  /** Revision of each lease key this process last wrote (a lost lease's key may still stand at it). */
  const written = new Map<number, number>();
  const watched = new Map<number, WatchedPartition>();
  /** Other replicas' presence keys: revision and local time first seen. */
  const others = new Map<string, { revision: number; seenAt: number }>();
  const acquiredCbs = new Set<(lease: PartitionLease) => void | Promise<void>>();
  const lostCbs = new Set<(lease: PartitionLease, reason: LeaseLossReason) => void>();
  const counts = {
    acquired: 0,
    lost: { expired: 0, taken: 0, released: 0, stopped: 0 } as Record<LeaseLossReason, number>,
    renewFailures: 0,
    claimConflicts: 0,
  };

  let kv: LeaseBucket | undefined = opts.kv;
  let follower: KvFollower | undefined;
  let loop: Promise<void> | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const abort = new AbortController();
  /**
   * onAcquired callbacks run apart from the rounds, in order per partition; partitions do not wait for
   * each other (a warm-up stuck on one must not keep the others undecided).
   */
  const dispatchQueues = new Map<number, Promise<void>>();
  /** Local time of the last presence write that succeeded, and whether one failed since. */
  let presenceOkAt: number | undefined;
  let presenceFailing = false;

  const partitionKey = (p: number) => `partition.${p}`;
  const presenceKey = `replica.${replicaId}`;
  const leaseOf = (h: Held): PartitionLease => ({ partition: h.partition, epoch: h.epoch });

  function lose(h: Held, reason: LeaseLossReason): void {
    if (held.get(h.partition) !== h) return;
    held.delete(h.partition);
    counts.lost[reason]++;
    log.info({ partition: h.partition, epoch: h.epoch, reason }, "partition lease lost");
    if (!h.dispatched) return;
    for (const cb of lostCbs) {
      try {
        cb(leaseOf(h), reason);
      } catch (err) {
        log.error({ err, partition: h.partition }, "onLost callback threw");
      }
    }
  }

  function expireDue(): void {
    const t = now();
    for (const h of [...held.values()]) if (t > h.validUntil) lose(h, "expired");
  }

  function onEntry(e: KvWatchEntry): void {
    const deleted = e.operation !== "PUT";
    if (e.key.startsWith("replica.")) {
      const id = e.key.slice("replica.".length);
      if (id === replicaId) return;
      if (deleted) others.delete(id);
      else others.set(id, { revision: e.revision, seenAt: now() });
      return;
    }
    if (!e.key.startsWith("partition.")) return;
    const p = Number(e.key.slice("partition.".length));
    if (!Number.isInteger(p) || p < 0 || p >= partitions) return;
    const prev = watched.get(p);
    const w: WatchedPartition = { revision: e.revision, deleted, seenAt: now(), starts: prev?.starts ?? [] };
    if (!deleted) {
      const v = decodeValue(e);
      // The claim carries only the owner: its epoch is its own revision and its start the entry's server time.
      const epoch = v.epoch ?? e.revision;
      const known = w.starts.find((s) => s.epoch === epoch)?.since;
      const since = v.since ?? known ?? e.created.getTime();
      w.view = { partition: p, owner: v.owner, epoch, since };
      if (known === undefined) {
        w.starts.push({ epoch, since });
        if (w.starts.length > EPOCH_HISTORY) w.starts.shift();
      }
    }
    watched.set(p, w);

    const h = held.get(p);
    if (!h || e.revision <= h.revision) return;
    if (!deleted && w.view?.owner === replicaId && w.view.epoch === h.epoch) {
      // One of our own renewals (perhaps one whose reply we missed): the next one builds on it.
      h.revision = e.revision;
      return;
    }
    lose(h, "taken");
  }

  function dispatch(h: Held): void {
    const queued = (dispatchQueues.get(h.partition) ?? Promise.resolve()).then(async () => {
      // Lost while queued: no callback heard of it, so none hears of its loss either.
      if (held.get(h.partition) !== h) return;
      h.dispatched = true;
      for (const cb of [...acquiredCbs]) {
        if (held.get(h.partition) !== h) break;
        try {
          await cb(leaseOf(h));
        } catch (err) {
          log.error({ err, partition: h.partition, epoch: h.epoch }, "onAcquired callback failed");
        }
      }
    });
    dispatchQueues.set(h.partition, queued);
    void queued.then(() => {
      if (dispatchQueues.get(h.partition) === queued) dispatchQueues.delete(h.partition);
    });
  }

  /**
   * This replica could not write to the bucket for `ms` (e.g. while the cluster elected a leader for
   * it). Nobody else could either, most likely: that time does not count against the others' presence
   * nor their leases as judged from here. Each owner, whose own lease did expire on its own clock
   * meanwhile, gets a ttl to take its partitions back before anyone else may, instead of every
   * replica grabbing every partition at once when the bucket answers again.
   */
  function forgive(ms: number): void {
    const t = now();
    for (const o of others.values()) o.seenAt = Math.min(t, o.seenAt + ms);
    for (const w of watched.values()) w.seenAt = Math.min(t, w.seenAt + ms);
    log.info({ blackoutMs: Math.round(ms) }, "lease bucket writable again");
  }

  async function writePresence(store: LeaseBucket): Promise<void> {
    try {
      follower?.expect(await store.put(presenceKey, JSON.stringify({ at: Date.now() })));
      const t = now();
      if (presenceFailing && presenceOkAt !== undefined) forgive(t - presenceOkAt);
      presenceFailing = false;
      presenceOkAt = t;
    } catch (err) {
      presenceFailing = true;
      log.warn({ err: errorText(err) }, "replica presence write failed");
    }
  }

  function valueOf(h: Held): string {
    return JSON.stringify({ owner: replicaId, epoch: h.epoch, since: h.since });
  }

  /** Whether the key, as read now, still carries this lease (our own renewal whose reply was lost, maybe). */
  async function stillOurs(store: LeaseBucket, h: Held): Promise<number | "lost" | "unknown"> {
    const w = watched.get(h.partition);
    if (w && !w.deleted && w.view?.owner === replicaId && w.view.epoch === h.epoch && w.revision > h.revision)
      return w.revision;
    try {
      const e = await store.get(partitionKey(h.partition));
      if (!e || e.operation !== "PUT") return "lost";
      const v = e.json<LeaseValue>();
      return v?.owner === replicaId && v.epoch === h.epoch ? e.revision : "lost";
    } catch {
      return "unknown";
    }
  }

  async function renew(store: LeaseBucket, h: Held): Promise<void> {
    const sentAt = now();
    try {
      const revision = await store.update(partitionKey(h.partition), valueOf(h), h.revision, ttlMs);
      written.set(h.partition, revision);
      follower?.expect(revision);
      if (held.get(h.partition) !== h) return;
      h.revision = Math.max(h.revision, revision);
      h.validUntil = sentAt + ttlMs;
    } catch (err) {
      if (held.get(h.partition) !== h) return;
      counts.renewFailures++;
      if (isCasConflict(err)) {
        // Someone wrote the key since our last renewal we know of. It may be our own renewal whose
        // reply was lost (a timeout during a leader election): the key then still carries our epoch,
        // and the next round renews on its revision. Only another owner's write (or a delete) is a loss;
        // when the key cannot be read either, the lease runs on to its local expiry and is retried.
        const current = await stillOurs(store, h);
        if (held.get(h.partition) !== h) return;
        if (current === "lost") lose(h, "taken");
        else if (current !== "unknown") h.revision = Math.max(h.revision, current);
        return;
      }
      log.warn(
        { err: errorText(err), partition: h.partition, epoch: h.epoch, validForMs: Math.round(h.validUntil - now()) },
        "lease renewal failed; retrying next round",
      );
    }
  }

  async function claim(store: LeaseBucket, p: number, mode: "create" | "update"): Promise<void> {
    const key = partitionKey(p);
    const sentAt = now();
    let revision: number;
    try {
      const value = JSON.stringify({ owner: replicaId });
      const seen = watched.get(p)?.revision ?? 0;
      revision = mode === "create" ? await store.create(key, value) : await store.update(key, value, seen, ttlMs);
      written.set(p, revision);
      follower?.expect(revision);
    } catch (err) {
      if (isCasConflict(err) || /wrong last sequence|key exists/i.test(String(err))) counts.claimConflicts++;
      else log.warn({ err: errorText(err), partition: p }, "lease claim failed");
      return;
    }
    let since: number | undefined;
    try {
      since = (await store.get(key, { revision }))?.created.getTime();
    } catch (err) {
      log.warn({ err, partition: p }, "could not read the claim's server time");
    }
    since ??= watched.get(p)?.starts.find((s) => s.epoch === revision)?.since;
    const w = watched.get(p);
    const superseded = w && w.revision > revision && (w.deleted || w.view?.owner !== replicaId);
    if (superseded) return;
    if (since === undefined || stopping) {
      // Won but not taken up: hand it back rather than make the others wait out its ttl.
      await store.delete(key, { previousSeq: revision }).catch(() => {});
      return;
    }
    const h: Held = { partition: p, epoch: revision, since, revision, validUntil: sentAt + ttlMs, dispatched: false };
    if (w && w.revision > revision && w.view?.epoch === revision) h.revision = w.revision;
    held.set(p, h);
    counts.acquired++;
    log.info({ partition: p, epoch: revision, since, mode }, "partition lease acquired");
    dispatch(h);
  }

  function alive(): number {
    const t = now();
    let n = 1;
    for (const o of others.values()) if (t - o.seenAt <= ttlMs) n++;
    return n;
  }

  async function rebalance(store: LeaseBucket): Promise<void> {
    const share = fairShare(partitions, alive());
    if (held.size > share) {
      // The newest lease goes: it has the least warmed-up state behind it.
      const h = [...held.values()].reduce((a, b) => (b.epoch > a.epoch ? b : a));
      lose(h, "released");
      await store
        .delete(partitionKey(h.partition), { previousSeq: h.revision })
        .catch((err: unknown) => log.warn({ err, partition: h.partition }, "lease release failed; it will expire"));
      return;
    }
    if (held.size >= share) return;
    const t = now();
    const candidates = claimOrder(
      partitions,
      replicaId,
      (p) => (held.has(p) ? false : claimMode(watched.get(p), written.get(p), t, ttlMs)),
      (p) => watched.get(p)?.revision === written.get(p),
    ).slice(0, share - held.size);
    await Promise.all(candidates.map((c) => claim(store, c.partition, c.mode)));
  }

  async function collectDeparted(store: LeaseBucket): Promise<void> {
    const t = now();
    for (const [id, o] of others) {
      if (t - o.seenAt < PRESENCE_GC_TTLS * ttlMs) continue;
      others.delete(id);
      await store.delete(`replica.${id}`, { previousSeq: o.revision }).catch(() => {});
    }
  }

  async function round(store: LeaseBucket): Promise<void> {
    expireDue();
    await Promise.all([writePresence(store), ...[...held.values()].map((h) => renew(store, h))]);
    expireDue();
    if (stopping) return;
    await rebalance(store);
    await collectDeparted(store);
  }

  return {
    replicaId,
    partitions,
    async start() {
      kv ??= await new Kvm(jetstream(nc, { timeout: Math.max(ttlMs, 2000) })).create(bucket, {
        history: 1,
        storage: StorageType.File,
        replicas: opts.replicas ?? 1,
      });
      const store = kv;
      // A watcher that does not hand back our own writes within a ttl is stuck (on a dead node): re-opened.
      follower ??= followKv({
        kv: store,
        log,
        onEntry,
        stallMs: ttlMs,
        monotonicNow: now,
        onReopen: opts.watchReopens?.of(bucket),
      });
      await follower.catchUp(30_000);
      expiryTimer ??= setInterval(expireDue, Math.max(10, Math.floor(renewMs / 4)));
      loop ??= (async () => {
        while (!stopping) {
          const began = performance.now();
          try {
            await round(store);
          } catch (err) {
            log.error({ err }, "lease round failed");
          }
          await sleep(renewMs - (performance.now() - began), abort.signal);
        }
      })();
      log.info({ bucket, partitions, ttlMs, renewMs }, "partition leases started");
    },
    async stop() {
      stopping = true;
      abort.abort();
      await loop;
      clearInterval(expiryTimer);
      const mine = [...held.values()];
      for (const h of mine) lose(h, "stopped");
      if (kv) {
        const store = kv;
        await Promise.all([
          ...mine.map((h) =>
            store
              .delete(partitionKey(h.partition), { previousSeq: h.revision })
              .catch((err: unknown) =>
                log.warn({ err, partition: h.partition }, "lease hand-over failed; it will expire"),
              ),
          ),
          store.delete(presenceKey).catch(() => {}),
        ]);
      }
      await follower?.stop();
    },
    owned: () => [...held.values()].sort((a, b) => a.partition - b.partition).map(leaseOf),
    holds(partition, epoch) {
      const h = held.get(partition);
      if (!h || (epoch !== undefined && h.epoch !== epoch)) return false;
      if (now() > h.validUntil) {
        lose(h, "expired");
        return false;
      }
      return true;
    },
    view: (partition) => watched.get(partition)?.view,
    fence: (partition, epoch, publishedAt) => fenceVerdict(watched.get(partition)?.starts ?? [], epoch, publishedAt),
    onAcquired(cb) {
      acquiredCbs.add(cb);
      return () => {
        acquiredCbs.delete(cb);
      };
    },
    onLost(cb) {
      lostCbs.add(cb);
      return () => {
        lostCbs.delete(cb);
      };
    },
    stats: () => ({
      acquired: counts.acquired,
      lost: { ...counts.lost },
      renewFailures: counts.renewFailures,
      claimConflicts: counts.claimConflicts,
      owned: held.size,
      alive: alive(),
    }),
  };
}
