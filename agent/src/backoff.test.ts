import { describe, expect, it } from "vitest";
import { createBackoff } from "./backoff.js";

describe("backoff", () => {
  it("grows the bound exponentially up to the cap, with full jitter below it", () => {
    const top = createBackoff({ random: () => 0.999999 });
    const bounds = Array.from({ length: 10 }, () => top.next());
    expect(bounds).toEqual([249, 499, 999, 1999, 3999, 7999, 14_999, 14_999, 14_999, 14_999]);
    const bottom = createBackoff({ random: () => 0 });
    expect(bottom.next()).toBe(0);
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
});
