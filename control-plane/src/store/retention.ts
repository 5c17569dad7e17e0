/** The day-partition id (`YYYYMMDD`, UTC) holding the instant `ms`, as the results table computes it. */
export function dayPartitionId(ms: number): string {
  const d = new Date(ms);
  if (!Number.isFinite(ms) || Number.isNaN(d.getTime())) throw new RangeError(`invalid time ${String(ms)}`);
  const y = d.getUTCFullYear().toString().padStart(4, "0");
  const m = (d.getUTCMonth() + 1).toString().padStart(2, "0");
  const day = d.getUTCDate().toString().padStart(2, "0");
  return `${y}${m}${day}`;
}

/**
 * Day partitions that lie entirely before the UTC day containing `dayMs` (that day itself is kept).
 * Ids that are not day partitions are never selected.
 */
export function partitionsBefore(partitionIds: readonly string[], dayMs: number): string[] {
  const cutoff = dayPartitionId(dayMs);
  return [...new Set(partitionIds)].filter((id) => /^\d{8}$/.test(id) && id < cutoff).sort();
}
