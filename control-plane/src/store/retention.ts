import type { Logger } from "pino";

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

/** Options of {@link startRetention}. */
export interface RetentionOptions {
  /** Where old partitions are dropped. */
  store: { dropPartitionsBefore(dayMs: number): Promise<string[]> };
  /** Days of results kept (PROBEMESH_RETENTION_DAYS). */
  retentionDays: number;
  log: Logger;
  /** How often old partitions are dropped. @default 3600000 (1 h) */
  everyMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** The running retention loop. */
export interface Retention {
  /** The pass in flight, if any (tests, shutdown). */
  idle(): Promise<void>;
  /** Stops the loop; a pass in flight finishes on its own. */
  stop(): void;
}

const DAY_MS = 86_400_000;

/**
 * Drops result partitions older than `retentionDays` now and then every `everyMs`. A failed pass
 * is logged and retried at the next tick; passes never overlap.
 */
export function startRetention(opts: RetentionOptions): Retention {
  const log = opts.log.child({ component: "retention" });
  const now = opts.now ?? Date.now;
  let running: Promise<void> | undefined;
  const pass = async () => {
    try {
      const dropped = await opts.store.dropPartitionsBefore(now() - opts.retentionDays * DAY_MS);
      if (dropped.length > 0) log.info({ dropped, retentionDays: opts.retentionDays }, "dropped old result partitions");
    } catch (err) {
      log.warn({ err }, "dropping old result partitions failed; will retry");
    }
  };
  const tick = () => {
    running ??= pass().finally(() => (running = undefined));
  };
  tick();
  const timer = setInterval(tick, opts.everyMs ?? 3_600_000);
  timer.unref();
  return {
    idle: async () => {
      await running;
    },
    stop: () => clearInterval(timer),
  };
}
