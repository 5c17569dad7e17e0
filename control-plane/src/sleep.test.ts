import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sleep } from "./sleep.js";

describe("sleep", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves after the delay and leaves no abort listener behind", async () => {
    vi.useFakeTimers();
    const ctl = new AbortController();
    for (let i = 0; i < 100; i++) {
      const slept = sleep(10, ctl.signal);
      expect(getEventListeners(ctl.signal, "abort")).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(10);
      await slept;
    }
    expect(getEventListeners(ctl.signal, "abort")).toHaveLength(0);
  });

  it("resolves as soon as the signal aborts, and clears its timer", async () => {
    vi.useFakeTimers();
    const ctl = new AbortController();
    const slept = sleep(60_000, ctl.signal);
    ctl.abort();
    await slept;
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(ctl.signal, "abort")).toHaveLength(0);
  });

  it("resolves at once on an aborted signal, and works without one", async () => {
    await sleep(60_000, AbortSignal.abort());
    vi.useFakeTimers();
    const slept = sleep(5);
    await vi.advanceTimersByTimeAsync(5);
    await slept;
  });
});
