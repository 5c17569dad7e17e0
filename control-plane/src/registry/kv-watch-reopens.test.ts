import { describe, expect, it } from "vitest";
import { createKvWatchReopens } from "./kv-watch-reopens.js";

describe("createKvWatchReopens", () => {
  it("counts by bucket and reason, the followers of one bucket together, and a bucket from its first follower on", () => {
    const reopens = createKvWatchReopens();
    expect(reopens.counts()).toEqual([]);
    const checks = reopens.of("probemesh_checks");
    const marksA = reopens.of("probemesh_impairment");
    const marksB = reopens.of("probemesh_impairment");
    checks("ended");
    marksA("stalled");
    marksB("stalled");
    marksB("ended");
    expect(reopens.counts()).toEqual([
      { bucket: "probemesh_checks", reason: "ended", count: 1 },
      { bucket: "probemesh_checks", reason: "stalled", count: 0 },
      { bucket: "probemesh_impairment", reason: "ended", count: 1 },
      { bucket: "probemesh_impairment", reason: "stalled", count: 2 },
    ]);
  });
});
