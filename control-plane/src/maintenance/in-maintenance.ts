import type { MaintenanceOccurrence, MaintenanceSubject, MaintenanceWindow } from "./types.js";

/** Most occurrences one window expands to in {@link maintenanceIntervals} (a guard against tiny periods). */
const MAX_OCCURRENCES = 100_000;
/** Most windows chained by {@link maintenanceEnd}. */
const MAX_CHAIN = 1000;

/**
 * True when `window` covers the check (whatever the time): it names its id, is "*", or selects by
 * labels that the check's labels all include (a check given by id alone has no labels).
 */
export function coversCheck(window: MaintenanceWindow, check: MaintenanceSubject): boolean {
  const id = typeof check === "string" ? check : check.id;
  if (window.labels !== undefined) {
    const labels = typeof check === "string" ? undefined : check.labels;
    const wanted = Object.entries(window.labels);
    return wanted.length > 0 && labels !== undefined && wanted.every(([k, v]) => labels[k] === v);
  }
  return window.checks === "*" || window.checks.includes(id);
}

/** The occurrence of `window` that contains `at`, or undefined. Ignores the window's checks. */
export function occurrenceAt(window: MaintenanceWindow, at: number): MaintenanceOccurrence | undefined {
  if (at < window.from) return undefined;
  if (!window.repeat) return at < window.to ? { window, from: window.from, to: window.to } : undefined;
  const n = Math.floor((at - window.from) / window.repeat.everyMs);
  const from = window.from + n * window.repeat.everyMs;
  if (window.repeat.until !== undefined && from >= window.repeat.until) return undefined;
  const to = from + (window.to - window.from);
  return at < to ? { window, from, to } : undefined;
}

/**
 * The occurrence of a window covering `checkId` at `at` (epoch ms), or undefined when the check is
 * not in maintenance then. When several cover it, the one ending last (ties: smallest id).
 */
export function inMaintenanceOccurrence(
  windows: Iterable<MaintenanceWindow>,
  checkId: MaintenanceSubject,
  at: number,
): MaintenanceOccurrence | undefined {
  let best: MaintenanceOccurrence | undefined;
  for (const w of windows) {
    if (!coversCheck(w, checkId)) continue;
    const o = occurrenceAt(w, at);
    if (o && (!best || o.to > best.to || (o.to === best.to && o.window.id < best.window.id))) best = o;
  }
  return best;
}

/** The window covering `checkId` at `at`, or undefined (see {@link inMaintenanceOccurrence}). */
export function inMaintenance(
  windows: Iterable<MaintenanceWindow>,
  checkId: MaintenanceSubject,
  at: number,
): MaintenanceWindow | undefined {
  return inMaintenanceOccurrence(windows, checkId, at)?.window;
}

/**
 * When the maintenance of `checkId` that covers `at` ends: back-to-back or overlapping windows are
 * followed to the end of the last one. `at` itself when the check is not in maintenance at `at`.
 */
export function maintenanceEnd(windows: readonly MaintenanceWindow[], checkId: MaintenanceSubject, at: number): number {
  let t = at;
  for (let i = 0; i < MAX_CHAIN; i++) {
    const o = inMaintenanceOccurrence(windows, checkId, t);
    if (!o) return t;
    t = o.to;
  }
  return t;
}

/** The occurrences of the windows covering `checkId` that overlap `[from, to)`, clipped to it (unsorted, may overlap). */
export function maintenanceIntervals(
  windows: Iterable<MaintenanceWindow>,
  checkId: MaintenanceSubject,
  from: number,
  to: number,
): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const w of windows) {
    if (!coversCheck(w, checkId)) continue;
    const length = w.to - w.from;
    const every = w.repeat?.everyMs;
    // First occurrence that may end after `from`.
    let n = every ? Math.max(0, Math.floor((from - w.from - length) / every)) : 0;
    for (let k = 0; k < MAX_OCCURRENCES; k++, n++) {
      const start = w.from + n * (every ?? 0);
      if (start >= to) break;
      if (every && w.repeat?.until !== undefined && start >= w.repeat.until) break;
      const end = start + length;
      if (end > from) out.push({ start: Math.max(start, from), end: Math.min(end, to) });
      if (!every) break;
    }
  }
  return out;
}
