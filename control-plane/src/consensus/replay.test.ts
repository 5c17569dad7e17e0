import { describe, expect, it } from "vitest";
import { replay } from "./replay.js";
import type { Observation } from "./types.js";

const REGIONS = ["eu-west", "us-east", "ap-south"];
const I = 10_000;

/** 30 rounds; eu-west and us-east fail in rounds 10-14, eu-west alone in rounds 20-22. */
function history(): Observation[] {
  const out: Observation[] = [];
  for (let k = 0; k < 30; k++) {
    REGIONS.forEach((region, i) => {
      const down = (k >= 10 && k <= 14 && region !== "ap-south") || (k >= 20 && k <= 22 && region === "eu-west");
      out.push({
        checkId: "web",
        agentId: `a-${region}`,
        region,
        startedAt: k * I + i * 100,
        durationMs: 20,
        state: down ? "down" : "up",
        reason: down ? "http_status" : "",
        canary: false,
      });
    });
  }
  return out;
}

const base = { checkId: "web", intervalMs: I, timeoutMs: 2_000, regions: REGIONS };

describe("replay", () => {
  it("declares what the policy would have: one outage with its first failing observation, and a partial", () => {
    const r = replay(history(), base, { from: 0, to: 30 * I });
    const outages = r.outages.filter((o) => o.kind === "outage");
    expect(outages).toHaveLength(1);
    expect(outages[0]).toMatchObject({
      state: "resolved",
      startedAt: 10 * I,
      regions: ["eu-west", "us-east"],
      reason: "http_status",
    });
    expect(outages[0]!.confirmedAt).toBe(11 * I + 100 + 20);
    // eu-west's second success ends the quorum (us-east's failing alone is a partial again).
    expect(outages[0]!.resolvedAt).toBe(16 * I + 20);
    const partials = r.outages.filter((o) => o.kind === "partial");
    // eu-west alone (round 10) became the outage within the partial's hold, and us-east's last 100 ms
    // of failing after the outage ended were too short to announce: one incident, one announcement.
    // eu-west alone in rounds 20-22 held long enough to be a partial.
    expect(partials.map((p) => [p.startedAt, p.regions])).toEqual([[20 * I, ["eu-west"]]]);
    // Announced with the first result completing after its 12 s hold (interval + timeout, on the
    // results' clock): eu-west's at round 23, its first success (it needs two to recover).
    expect(partials[0]!.confirmedAt).toBe(23 * I + 20);
    // Per-region down intervals come with it (per-region availability).
    expect(r.outages.filter((o) => o.kind === "region").map((o) => o.regions[0])).toEqual([
      "eu-west",
      "us-east",
      "eu-west",
    ]);
    expect(r.results).toBe(90);
    expect(r.finalState).toBe("up");
  });

  it("other thresholds or quorum change the verdicts", () => {
    expect(
      replay(history(), { ...base, failureThreshold: 6 }, { from: 0, to: 30 * I }).outages.filter(
        (o) => o.kind === "outage",
      ),
    ).toEqual([]);
    const all = replay(history(), { ...base, quorum: "all" }, { from: 0, to: 30 * I });
    expect(all.outages.filter((o) => o.kind === "outage")).toEqual([]);
    const any = replay(history(), { ...base, quorum: "any" }, { from: 0, to: 30 * I });
    expect(any.outages.filter((o) => o.kind === "outage")).toHaveLength(2);
  });

  it("is deterministic whatever the input order, and honours the window", () => {
    const shuffled = history().sort((a, b) => ((a.startedAt * 7919) % 13) - ((b.startedAt * 7919) % 13));
    expect(replay(shuffled, base, { from: 0, to: 30 * I })).toEqual(replay(history(), base, { from: 0, to: 30 * I }));
    // A window ending mid-outage reports it open.
    const mid = replay(history(), base, { from: 0, to: 13 * I });
    expect(mid.outages.find((o) => o.kind === "outage")).toMatchObject({ state: "open", resolvedAt: null });
    // A window after the outage does not list it.
    expect(replay(history(), base, { from: 18 * I, to: 30 * I }).outages.map((o) => o.kind)).toEqual([
      "region",
      "partial",
    ]);
  });
});
