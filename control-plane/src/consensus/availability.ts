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
}

/** Availability of one scope (a region, or the check globally) over a window. */
export interface AvailabilityReport {
  from: number;
  to: number;
  windowMs: number;
  downtimeMs: number;
  /** Down intervals overlapping the window (overlapping ones merged). */
  outages: number;
  /** Mean time to recovery: mean of start -> end over resolved intervals (whole intervals, not clipped); null when none. */
  mttrMs: number | null;
  /** Mean time between failures: mean of one end -> next start; null with fewer than two intervals. */
  mtbfMs: number | null;
  /** Percent of the window not down. */
  availability: number;
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
  let downtimeMs = 0;
  for (const m of merged) downtimeMs += Math.min(m.end, to) - Math.max(m.start, from);
  const resolved = merged.filter((m) => !m.open);
  const mttrMs = resolved.length > 0 ? resolved.reduce((s, m) => s + (m.end - m.start), 0) / resolved.length : null;
  let gaps = 0;
  for (let k = 1; k < merged.length; k++) gaps += merged[k]!.start - merged[k - 1]!.end;
  const mtbfMs = merged.length >= 2 ? gaps / (merged.length - 1) : null;
  const windowMs = to - from;
  const availabilityPct = windowMs > 0 ? round((1 - downtimeMs / windowMs) * 100) : 100;
  const errorBudgetMs = (windowMs * (100 - target)) / 100;
  const remaining = errorBudgetMs - downtimeMs;
  return {
    from,
    to,
    windowMs,
    downtimeMs,
    outages: merged.length,
    mttrMs,
    mtbfMs,
    availability: availabilityPct,
    slo: {
      target,
      met: availabilityPct >= target,
      errorBudgetMs: Math.round(errorBudgetMs),
      errorBudgetRemainingMs: Math.round(remaining),
      errorBudgetRemainingPercent:
        errorBudgetMs > 0 ? round((remaining / errorBudgetMs) * 100) : downtimeMs === 0 ? 100 : 0,
    },
  };
}

/** Rounds away binary float noise (8 decimals is far below a millisecond of a day). */
function round(x: number): number {
  return Math.round(x * 1e8) / 1e8;
}
