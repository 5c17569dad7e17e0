import { describe, expect, it } from "vitest";
import { openOnce } from "./kv.js";

describe("openOnce", () => {
  it("opens at the first call, shares that bucket, and tries again after a failed open", async () => {
    let calls = 0;
    const kv = openOnce(async () => {
      calls++;
      if (calls === 1) throw new Error("NATS away");
      return { n: calls };
    });
    expect(calls).toBe(0);
    await expect(kv()).rejects.toThrow("NATS away");
    const [a, b] = await Promise.all([kv(), kv()]);
    expect(a).toEqual({ n: 2 });
    expect(b).toBe(a);
    expect(await kv()).toBe(a);
    expect(calls).toBe(2);
  });
});
