import { describe, expect, it } from "vitest";
import { createKvWatchReopens } from "./kv-watch-reopens.js";

describe("createKvWatchReopens", () => {
  it("counts by bucket and reason, the followers of one bucket together, and a bucket from its first follower on", () => {
    const reopens = createKvWatchReopens();
    expect(reopens.counts()).toEqual([]);
    const checks = reopens.of("probemesh_checks");
    const marksP0 = reopens.of("probemesh_impairment");
    const marksP1 = reopens.of("probemesh_impairment");
    checks("ended");
    marksP0("stalled");
    marksP1("stalled");
    marksP1("ended");
    expect(reopens.counts()).toEqual([
      { bucket: "probemesh_checks", reason: "ended", count: 1 },
      { bucket: "probemesh_checks", reason: "stalled", count: 0 },
      { bucket: "probemesh_impairment", reason: "ended", count: 1 },
      { bucket: "probemesh_impairment", reason: "stalled", count: 2 },
    ]);
  });
});
