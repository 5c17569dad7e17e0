/** Summary of recent scheduling lag (actual start minus planned start). */
export interface LagSummary {
  /** Samples in the window. */
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Keeps the most recent lag samples and their percentiles. */
export interface LagTracker {
  record(lagMs: number): void;
  summary(): LagSummary;
}

/** Creates a lag tracker over a ring of the last `windowSize` runs. @default windowSize 1024 */
export function createLagTracker(windowSize = 1024): LagTracker {
  const ring = new Float64Array(windowSize);
  let next = 0;
  let filled = 0;
  return {
    record(lagMs) {
      ring[next] = Math.max(0, lagMs);
      next = (next + 1) % windowSize;
      filled = Math.min(filled + 1, windowSize);
    },
    summary() {
      if (filled === 0) return { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
      const sorted = ring.slice(0, filled).sort();
      const at = (q: number) => sorted[Math.min(filled - 1, Math.ceil(q * filled) - 1)] ?? 0;
      return { count: filled, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[filled - 1] ?? 0 };
    },
  };
}
