import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { backoffPolicy, retryUntilAborted, STARTUP_RETRY } from "./backoff.js";

describe("backoffPolicy", () => {
  it("draws equal jitter in the upper half of the bound", () => {
    const policy = { initialMs: 1000, maxMs: 60_000, jitter: "equal" } as const;
    const high = backoffPolicy({ ...policy, random: () => 0.999999 });
    const low = backoffPolicy({ ...policy, random: () => 0 });
    expect([1, 2, 3, 4].map((a) => high.delay(a))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((a) => low.delay(a))).toEqual([500, 1000, 2000, 4000]);
    expect(high.delay(20)).toBe(60_000);
    expect(low.delay(1000)).toBe(30_000);
  });

  it("gives the bound itself without jitter, and never overflows", () => {
    const p = backoffPolicy({ initialMs: 500, maxMs: 5000, jitter: "none", random: () => 0.3 });
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => p.delay(a))).toEqual([500, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(p.delay(Number.MAX_SAFE_INTEGER)).toBe(5000);
  });

  it("defaults to full jitter under a bound doubling from 250 ms to 15 s", () => {
    const p = backoffPolicy({ random: () => 0.999999 });
    expect([1, 2, 3, 7, 8].map((a) => p.delay(a))).toEqual([249, 499, 999, 14_999, 14_999]);
    expect(backoffPolicy({ random: () => 0 }).delay(5)).toBe(0);
  });

  it("is deterministic with an injected random source", () => {
    const seq = [0.1, 0.7, 0.4];
    const draw = () => {
      let i = 0;
      return () => seq[i++ % seq.length]!;
    };
    const a = backoffPolicy({ random: draw() });
    const b = backoffPolicy({ random: draw() });
    expect([1, 2, 3].map((n) => a.delay(n))).toEqual([1, 2, 3].map((n) => b.delay(n)));
  });

  it("refuses options that cannot make a backoff", () => {
    expect(() => backoffPolicy({ multiplier: 0.5 })).toThrow(RangeError);
    expect(() => backoffPolicy({ initialMs: -1 })).toThrow(RangeError);
  });
});

describe("retryUntilAborted", () => {
  const log = pino({ level: "silent" });
  const instant = backoffPolicy({ initialMs: 1, maxMs: 1, jitter: "none" });

  it("keeps the start-up delays of 500 ms doubling to 5 s", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => STARTUP_RETRY.delay(n))).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
  });

  it("retries until the attempt succeeds", async () => {
    let calls = 0;
    const value = await retryUntilAborted(
      { what: "x", log, signal: new AbortController().signal, policy: instant },
      () => (++calls < 3 ? Promise.reject(new Error("not yet")) : Promise.resolve("ok")),
    );
    expect(value).toBe("ok");
    expect(calls).toBe(3);
  });

  it("gives up with undefined once the signal aborts", async () => {
    const ctl = new AbortController();
    const value = await retryUntilAborted({ what: "x", log, signal: ctl.signal }, () => {
      ctl.abort();
      return Promise.reject(new Error("down"));
    });
    expect(value).toBeUndefined();
  });
});
