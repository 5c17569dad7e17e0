import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.js";

describe("backoffDelay", () => {
  const policy = { baseMs: 1000, maxMs: 60_000 };
  it("doubles per attempt up to the cap, jittered within the upper half", () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, policy, () => 0.999999))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3, 4].map((a) => backoffDelay(a, policy, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(20, policy, () => 0.999999)).toBe(60_000);
    expect(backoffDelay(1000, policy, () => 0)).toBe(30_000);
  });
  it("spreads retries of deliveries that failed together", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5, policy)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(8000);
  });
});
