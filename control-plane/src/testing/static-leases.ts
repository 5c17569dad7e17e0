// Leases for a single replica that owns the whole mesh: every partition at epoch 1, forever. For tests
// only (production uses the NATS KV lease manager, cluster/leases.ts); nothing ever
// takes a partition away, so every fence is "current".
import type { LeaseLossReason, LeaseView, PartitionLease, PartitionLeases } from "../cluster/types.js";

/** Options of {@link createStaticLeases}. */
export interface StaticLeasesOptions {
  /** Number of partitions of the mesh (all owned). */
  partitions: number;
  /** @default "static" */
  replicaId?: string;
  /** The epoch of every partition. @default 1 */
  epoch?: number;
  /** Reported as every lease's `since`. @default Date.now() at creation */
  since?: number;
}

/**
 * A {@link PartitionLeases} owning every partition at one epoch: `start()` acquires them all (in
 * order, each callback awaited), `stop()` loses them all ("stopped").
 */
export function createStaticLeases(opts: StaticLeasesOptions): PartitionLeases {
  const { partitions } = opts;
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  const replicaId = opts.replicaId ?? "static";
  const epoch = opts.epoch ?? 1;
  const since = opts.since ?? Date.now();
  const acquired = new Set<(lease: PartitionLease) => void | Promise<void>>();
  const lost = new Set<(lease: PartitionLease, reason: LeaseLossReason) => void>();
  let started = false;
  const all = (): PartitionLease[] => Array.from({ length: partitions }, (_, partition) => ({ partition, epoch }));

  return {
    replicaId,
    partitions,
    async start() {
      if (started) return;
      started = true;
      for (const lease of all()) for (const cb of [...acquired]) await cb(lease);
    },
    async stop() {
      if (!started) return;
      started = false;
      for (const lease of all()) for (const cb of [...lost]) cb(lease, "stopped");
      await Promise.resolve();
    },
    owned: () => (started ? all() : []),
    holds: (partition, e) =>
      started &&
      Number.isInteger(partition) &&
      partition >= 0 &&
      partition < partitions &&
      (e === undefined || e === epoch),
    view: (partition): LeaseView | undefined =>
      partition >= 0 && partition < partitions ? { partition, owner: replicaId, epoch, since } : undefined,
    fence: () => "current",
    onAcquired(cb) {
      acquired.add(cb);
      return () => acquired.delete(cb);
    },
    onLost(cb) {
      lost.add(cb);
      return () => lost.delete(cb);
    },
  };
}
