import { afterEach, describe, expect, it, vi } from "vitest";
import { watchStalls, type StallWatch } from "./stall-watch.js";

let watch: StallWatch | undefined;
afterEach(() => {
  watch?.stop();
  watch = undefined;
  vi.useRealTimers();
});

/** A watch on a clock the test moves: `advance` runs the watch's timer as often as it would have run. */
function clocked(thresholdMs: number) {
  vi.useFakeTimers();
  let t = 1000;
  watch = watchStalls({ thresholdMs, tickMs: 100, now: () => t });
  return {
    watch,
    /** Time passes with the process running. */
    run: (ms: number) => {
      for (let i = 0; i < ms; i += 10) {
        t += 10;
        vi.advanceTimersByTime(10);
      }
    },
    /** Time passes with the process stopped: no timer runs until it wakes. */
    stop: (ms: number) => void (t += ms),
    now: () => t,
  };
}

describe("stall watch", () => {
  it("sees no stall while the process runs, whatever the gaps below the threshold", () => {
    const c = clocked(1000);
    const received = c.now();
    for (let i = 0; i < 50; i++) c.run(100);
    expect(c.watch.stalledSince(received)).toBe(false);
    expect(c.watch.stalls).toBe(0);
  });

  it("a stop after the receipt is a stall, noticed before the watch's timer runs again", () => {
    const c = clocked(1000);
    c.run(100);
    const received = c.now();
    c.stop(1500);
    // Woken, the timer not yet run: the last tick is 1.5 s old.
    expect(c.watch.stalledSince(received)).toBe(true);
    c.run(100);
    expect(c.watch.stalledSince(received)).toBe(true);
    expect(c.watch.stalls).toBe(1);
  });

  it("what is received just after a stall ended (read from the socket after the timers ran) counts as held through it", () => {
    const c = clocked(1000);
    c.run(100);
    c.stop(5000);
    c.run(100); // the timer notices the stall first
    expect(c.watch.stalledSince(c.now() + 5)).toBe(true);
    // Received a threshold after the stall was noticed: fresh.
    c.run(1100);
    expect(c.watch.stalledSince(c.now())).toBe(false);
  });

  it("a stop shorter than the threshold is not a stall", () => {
    const c = clocked(1000);
    c.run(100);
    const received = c.now();
    c.stop(850); // the next tick comes 950 ms after the last one
    c.run(100);
    expect(c.watch.stalledSince(received)).toBe(false);
  });

  it("refuses a threshold that is not positive", () => {
    expect(() => watchStalls({ thresholdMs: 0 })).toThrow(/positive/);
  });
});
