import type { KvReopenReason } from "./kv-follower.js";

/** One count of {@link KvWatchReopens}. */
export interface KvWatchReopenCount {
  bucket: string;
  reason: KvReopenReason;
  count: number;
}

/** The re-openings of every KV watcher of one process, by bucket and reason (read by GET /metrics). */
export interface KvWatchReopens {
  /** The `onReopen` of a follower of `bucket`; from this call on, the bucket is counted (0 for each reason). */
  of(bucket: string): (reason: KvReopenReason) => void;
  /** Every bucket counted so far, with each reason. */
  counts(): KvWatchReopenCount[];
}

const REASONS: readonly KvReopenReason[] = ["ended", "stalled"];

/** Counts the re-openings of the followers given its {@link KvWatchReopens.of} (several may share a bucket). */
export function createKvWatchReopens(): KvWatchReopens {
  const byBucket = new Map<string, Record<KvReopenReason, number>>();
  return {
    of(bucket) {
      let counts = byBucket.get(bucket);
      if (!counts) byBucket.set(bucket, (counts = { ended: 0, stalled: 0 }));
      const c = counts;
      return (reason) => {
        c[reason]++;
      };
    },
    counts: () =>
      [...byBucket].flatMap(([bucket, c]) => REASONS.map((reason) => ({ bucket, reason, count: c[reason] }))),
  };
}
