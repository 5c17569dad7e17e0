import { describe, expect, it } from "vitest";
import type { FenceVerdict } from "../cluster/types.js";
import { checkFence, formatFence, parseFence, type FenceJudge } from "./fence.js";

describe("the Probemesh-Fence header", () => {
  it("round-trips <partition>:<epoch>", () => {
    expect(formatFence({ partition: 7, epoch: 42 })).toBe("7:42");
    expect(parseFence("7:42")).toEqual({ partition: 7, epoch: 42 });
    expect(parseFence("0:1")).toEqual({ partition: 0, epoch: 1 });
    expect(parseFence("1023:9007199254740991")).toEqual({ partition: 1023, epoch: 9007199254740991 });
  });

  it.each([
    "",
    "7",
    "7:",
    ":42",
    "7:0",
    "-1:4",
    "07:4",
    "7:042",
    "7:4:1",
    " 7:4",
    "7:4 ",
    "a:b",
    "1.5:4",
    "7:1e3",
    "1024:4",
    "7:99999999999999999",
  ])("refuses %j", (value) => {
    expect(() => parseFence(value)).toThrow(/Probemesh-Fence/);
  });
});

describe("checkFence (the worker's decision before an attempt)", () => {
  // What leases.fence would answer: epochs before the current one are stale once it began.
  const judge =
    (current: Record<number, { epoch: number; since: number }>): FenceJudge =>
    (partition, epoch, publishedAt): FenceVerdict => {
      const now = current[partition];
      return now && epoch < now.epoch && publishedAt >= now.since ? "stale" : "current";
    };
  const leases = judge({ 3: { epoch: 10, since: 5_000 } });

  it("no header: an unfenced event (test events, older control planes) is delivered as before", () => {
    expect(checkFence(undefined, 1, leases)).toEqual({ kind: "none" });
    expect(checkFence([], 1, leases)).toEqual({ kind: "none" });
  });

  it("asks the judge with the partition, epoch and JetStream timestamp", () => {
    const asked: unknown[] = [];
    const spy: FenceJudge = (...args) => {
      asked.push(args);
      return "current";
    };
    expect(checkFence(["3:10"], 6_000, spy)).toEqual({
      kind: "current",
      fence: { partition: 3, epoch: 10 },
      publishedAt: 6_000,
    });
    expect(asked).toEqual([[3, 10, 6_000]]);
  });

  it("stale: an older epoch enqueued after the newer lease began", () => {
    expect(checkFence(["3:9"], 6_000, leases)).toMatchObject({ kind: "stale", fence: { partition: 3, epoch: 9 } });
  });

  it("current: the owner's epoch, or an older epoch's event enqueued before the takeover", () => {
    expect(checkFence(["3:10"], 6_000, leases).kind).toBe("current");
    expect(checkFence(["3:9"], 4_999, leases).kind).toBe("current");
    expect(checkFence(["4:1"], 6_000, leases).kind).toBe("current");
  });

  it("without a judge (one replica) a well-formed fence is current", () => {
    expect(checkFence(["3:9"], 6_000, undefined).kind).toBe("current");
  });

  it("malformed or repeated headers are malformed deliveries (dead-lettered), never judged", () => {
    const never: FenceJudge = () => {
      throw new Error("judged");
    };
    expect(checkFence(["3"], 1, never)).toMatchObject({ kind: "malformed", detail: expect.stringMatching(/3/) });
    expect(checkFence([""], 1, never).kind).toBe("malformed");
    expect(checkFence(["3:9", "3:10"], 1, never)).toMatchObject({
      kind: "malformed",
      detail: "2 Probemesh-Fence headers",
    });
  });
});
