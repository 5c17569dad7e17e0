/** A down interval; `end` null while still open. Epoch ms. */
export interface DownInterval {
  start: number;
  end: number | null;
}

/** Window and target of an availability computation. */
export interface AvailabilityOptions {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive; clipped to `now` so the future never counts as uptime. */
  to: number;
  /** Ends open intervals and clips the window. @default to */
  now?: number;
  /** SLO target in percent. @default 99.9 */
  sloTarget?: number;
  /**
   * When the scope had a verdict (results enough to judge). Time outside them is `noDataMs`: it is
   * neither up nor down and is left out of the availability and error-budget denominator, and down
   * time inside it is not counted. @default the whole window is observed
   */
  observed?: Iterable<{ start: number; end: number }>;
  /**
   * Maintenance windows of the scope. Time inside them is `maintenanceMs`: like `noDataMs` it is left
   * out of the availability and error-budget denominator, down time inside it is not counted, and it
   * is reported apart (it is not counted in `noDataMs`). @default none
   */
  maintenance?: Iterable<{ start: number; end: number }>;
}

/** Availability of one scope (a region, or the check globally) over a window. */
export interface AvailabilityReport {
  from: number;
  to: number;
  windowMs: number;
  /** Time of the window without a verdict (no results, too few regions): excluded from `availability`. */
  noDataMs: number;
  /** Time of the window inside maintenance windows: excluded from `availability`, not counted in `noDataMs`. */
  maintenanceMs: number;
  /** Down time within observed time outside maintenance. */
  downtimeMs: number;
  /** Down intervals overlapping the window (overlapping ones merged). */
  outages: number;
  /** Mean time to recovery: mean of start -> end over resolved intervals (whole intervals, not clipped); null when none. */
  mttrMs: number | null;
  /** Mean time between failures: mean of one end -> next start; null with fewer than two intervals. */
  mtbfMs: number | null;
  /** Percent of the observed time not down; null when nothing of the window was observed. */
  availability: number | null;
  slo: {
    target: number;
    met: boolean;
    /** Downtime the target allows over this window. */
    errorBudgetMs: number;
    /** Allowed minus used; negative once overspent. */
    errorBudgetRemainingMs: number;
    /** Remaining as percent of the budget (negative once overspent). */
    errorBudgetRemainingPercent: number;
  };
}

/** Default SLO target in percent. */
export const DEFAULT_SLO_TARGET = 99.9;

/** Availability, downtime, MTTR, MTBF and error budget from down intervals. Pure. */
export function availability(intervals: Iterable<DownInterval>, options: AvailabilityOptions): AvailabilityReport {
  const now = options.now ?? options.to;
  const from = options.from;
  const to = Math.max(from, Math.min(options.to, now));
  const target = options.sloTarget ?? DEFAULT_SLO_TARGET;
  const closed = [...intervals]
    .map((i) => ({ start: i.start, end: i.end ?? Math.max(i.start, now), open: i.end === null }))
    .filter((i) => i.end >= i.start && i.start < to && i.end > from)
    .sort((a, b) => a.start - b.start);
  const merged: { start: number; end: number; open: boolean }[] = [];
  for (const i of closed) {
    const last = merged[merged.length - 1];
    if (last && i.start <= last.end) {
      if (i.end > last.end) {
        last.end = i.end;
        last.open = i.open;
      } else last.open ||= i.open;
    } else merged.push({ ...i });
  }
  const maintenance = mergeIntervals(options.maintenance ?? [], from, to);
  let maintenanceMs = 0;
  for (const m of maintenance) maintenanceMs += m.end - m.start;
  const observed = subtractIntervals(
    options.observed === undefined ? [{ start: from, end: to }] : mergeIntervals(options.observed, from, to),
    maintenance,
  );
  let observedMs = 0;
  for (const o of observed) observedMs += o.end - o.start;
  let downtimeMs = 0;
  for (const m of merged) {
    const start = Math.max(m.start, from);
    const end = Math.min(m.end, to);
    for (const o of observed) downtimeMs += Math.max(0, Math.min(end, o.end) - Math.max(start, o.start));
  }
  const resolved = merged.filter((m) => !m.open);
  const mttrMs = resolved.length > 0 ? resolved.reduce((s, m) => s + (m.end - m.start), 0) / resolved.length : null;
  let gaps = 0;
  for (let k = 1; k < merged.length; k++) gaps += merged[k]!.start - merged[k - 1]!.end;
  const mtbfMs = merged.length >= 2 ? gaps / (merged.length - 1) : null;
  const windowMs = to - from;
  const availabilityPct = observedMs > 0 ? round((1 - downtimeMs / observedMs) * 100) : windowMs > 0 ? null : 100;
  const errorBudgetMs = (observedMs * (100 - target)) / 100;
  const remaining = errorBudgetMs - downtimeMs;
  return {
    from,
    to,
    windowMs,
    noDataMs: windowMs - observedMs - maintenanceMs,
    maintenanceMs,
    downtimeMs,
    outages: merged.length,
    mttrMs,
    mtbfMs,
    availability: availabilityPct,
    slo: {
      target,
      met: availabilityPct === null || availabilityPct >= target,
      errorBudgetMs: Math.round(errorBudgetMs),
      errorBudgetRemainingMs: Math.round(remaining),
      errorBudgetRemainingPercent:
        errorBudgetMs > 0 ? round((remaining / errorBudgetMs) * 100) : downtimeMs === 0 ? 100 : 0,
    },
  };
}

/** Sorted, disjoint intervals clipped to [from, to). */
function mergeIntervals(list: Iterable<{ start: number; end: number }>, from: number, to: number) {
  const sorted = [...list]
    .map((i) => ({ start: Math.max(i.start, from), end: Math.min(i.end, to) }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => a.start - b.start);
  const out: { start: number; end: number }[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ ...i });
  }
  return out;
}

/** `list` minus `holes`, both sorted and disjoint (as {@link mergeIntervals} returns them). */
function subtractIntervals(list: { start: number; end: number }[], holes: { start: number; end: number }[]) {
  if (holes.length === 0) return list;
  const out: { start: number; end: number }[] = [];
  for (const i of list) {
    let start = i.start;
    for (const h of holes) {
      if (h.end <= start || h.start >= i.end) continue;
      if (h.start > start) out.push({ start, end: h.start });
      start = Math.max(start, h.end);
    }
    if (start < i.end) out.push({ start, end: i.end });
  }
  return out;
}

/**
 * Observed time from buckets with results: each bucket start covers [start, start + bucketMs).
 * Per region, a bucket where the region reported; globally, one where at least `minRegions`
 * regions reported (enough to decide under the check's quorum).
 */
export function observedFromBuckets(
  bucketsByRegion: ReadonlyMap<string, readonly number[]>,
  bucketMs: number,
  minRegions = 1,
): { global: { start: number; end: number }[]; regions: Map<string, { start: number; end: number }[]> } {
  const regions = new Map<string, { start: number; end: number }[]>();
  const perBucket = new Map<number, number>();
  for (const [region, buckets] of bucketsByRegion) {
    regions.set(
      region,
      buckets.map((b) => ({ start: b, end: b + bucketMs })),
    );
    for (const b of new Set(buckets)) perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
  }
  const global: { start: number; end: number }[] = [];
  for (const [b, n] of perBucket) if (n >= Math.max(1, minRegions)) global.push({ start: b, end: b + bucketMs });
  global.sort((a, b) => a.start - b.start);
  return { global, regions };
}

/** Rounds away binary float noise (8 decimals is far below a millisecond of a day). */
function round(x: number): number {
  return Math.round(x * 1e8) / 1e8;
}
