import { describe, expect, it } from "vitest";
import { backoffPolicy, createBackoff } from "./backoff.js";

describe("backoffPolicy", () => {
  it("grows the bound exponentially up to the cap, with full jitter below it by default", () => {
    const top = createBackoff({ random: () => 0.999999 });
    const bounds = Array.from({ length: 10 }, () => top.next());
    expect(bounds).toEqual([249, 499, 999, 1999, 3999, 7999, 14_999, 14_999, 14_999, 14_999]);
    const bottom = createBackoff({ random: () => 0 });
    expect(bottom.next()).toBe(0);
  });

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

  it("is deterministic with an injected random source", () => {
    const seq = [0.1, 0.7, 0.4];
    const draw = () => {
      let i = 0;
      return () => seq[i++ % seq.length]!;
    };
    const a = createBackoff({ random: draw() });
    const b = createBackoff({ random: draw() });
    expect([a.next(), a.next(), a.next()]).toEqual([b.next(), b.next(), b.next()]);
  });

  it("draws delays spread over [0, bound)", () => {
    const b = createBackoff({ initialMs: 1000, maxMs: 1000 });
    const delays = Array.from({ length: 2000 }, () => b.next());
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(Math.max(...delays)).toBeGreaterThan(900);
    expect(delays.every((d) => d >= 0 && d < 1000)).toBe(true);
  });

  it("resets after success", () => {
    const b = createBackoff({ random: () => 0.5 });
    b.next();
    b.next();
    b.next();
    expect(b.attempts()).toBe(3);
    b.reset();
    expect(b.next()).toBe(125);
  });

  it("refuses options that cannot make a backoff", () => {
    expect(() => backoffPolicy({ multiplier: 0.5 })).toThrow(RangeError);
    expect(() => backoffPolicy({ initialMs: -1 })).toThrow(RangeError);
  });
});
