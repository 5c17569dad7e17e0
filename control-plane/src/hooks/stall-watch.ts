import { performance } from "node:perf_hooks";

/**
 * Notices that this process stood still: stopped (SIGSTOP), paused with its VM, or its event loop
 * blocked. A process that stood still longer than a queue's ack wait may hold messages JetStream has
 * meanwhile given to another replica; attempting them on waking would repeat a delivery out of
 * order (an `outage.resolved` arriving after the target failed again).
 */
export interface StallWatch {
  /** The watch's clock (monotonic ms): take a message's receipt time with it. */
  now(): number;
  /**
   * True when the process stood still for `thresholdMs` or more after `since` (a receipt time from
   * {@link now}), or in the `thresholdMs` before it, or stands still now as far as the watch can
   * tell (its last tick is that old: the process has just woken and the watch's timer has not run
   * yet). A stall just before a receipt counts: on waking, Node runs due timers before it reads its
   * sockets, so what arrived during the stall is received just after the watch noticed it.
   */
  stalledSince(since: number): boolean;
  /** Stalls noticed so far. */
  readonly stalls: number;
  stop(): void;
}

/** Options of {@link watchStalls}. */
export interface StallWatchOptions {
  /** A gap between two ticks of at least this long is a stall. */
  thresholdMs: number;
  /** @default thresholdMs / 5, at most 250 ms */
  tickMs?: number;
  /** Monotonic ms. @default performance.now */
  now?: () => number;
}

/** Starts a {@link StallWatch}: a timer ticking every `tickMs` that measures the gaps between its ticks. */
export function watchStalls(opts: StallWatchOptions): StallWatch {
  const now = opts.now ?? (() => performance.now());
  const { thresholdMs } = opts;
  if (!(thresholdMs > 0)) throw new Error(`stall threshold must be a positive number of ms, got ${thresholdMs}`);
  const tickMs = opts.tickMs ?? Math.min(250, thresholdMs / 5);
  let lastTick = now();
  // When the last stall was noticed (its end, as far as this watch knows); -Infinity: never.
  let lastStallEnd = Number.NEGATIVE_INFINITY;
  let stalls = 0;
  const timer = setInterval(() => {
    const t = now();
    if (t - lastTick >= thresholdMs) {
      lastStallEnd = t;
      stalls++;
    }
    lastTick = t;
  }, tickMs);
  timer.unref();
  return {
    now,
    stalledSince: (since) => lastStallEnd >= since - thresholdMs || now() - lastTick >= thresholdMs,
    get stalls() {
      return stalls;
    },
    stop: () => clearInterval(timer),
  };
}
