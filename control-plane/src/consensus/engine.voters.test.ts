// Regions and voters are bounded by enrollment: nothing a result says can add a region, an agent or
// a vote, and a revoked agent's votes are withdrawn.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { all, sim } from "./simulation.js";
import type { ProbeStateName } from "./types.js";

const R3 = ["eu-west", "us-east", "ap-south"];

/** Enrolled agents: `agent-<region>` for each region, plus extra ones; revocable. */
function enrolled(regions: readonly string[]) {
  const agents = new Map<string, string>(regions.map((r) => [`agent-${r}`, r]));
  return {
    agents,
    mayVote: (id: string, region: string) => agents.get(id) === region,
    revoke: (id: string) => agents.delete(id),
  };
}

describe("consensus engine voters", () => {
  it("without a voter bound, invented regions grow a check that runs everywhere (what mayVote prevents)", () => {
    const s = sim([{ checkId: "web" }]);
    s.round("web", all(R3, "up"));
    for (let k = 0; k < 3; k++) s.round("web", all(["x1", "x2", "x3", "x4"], "down"));
    expect(s.engine.status("web")?.state).toBe("down");
  });

  it("forged results from invented regions and agents open nothing on a healthy target", () => {
    const voters = enrolled(R3);
    const s = sim([{ checkId: "web" }, { checkId: "eu", regions: ["eu-west"] }], { mayVote: voters.mayVote });
    for (let k = 0; k < 5; k++) {
      s.round("web", all(R3, "up"));
      // Invented regions, an enrolled agent claiming another region, an invented agent in a real region.
      s.round("web", {
        ...all(["x1", "x2", "x3", "x4"], "down"),
        "us-east": { state: "down", agentId: "agent-eu-west" },
        "ap-south": { state: "down", agentId: "intruder" },
      });
    }
    expect(s.engine.status("web")?.state).toBe("up");
    expect(Object.keys(s.engine.status("web")!.regions).sort()).toEqual([...R3].sort());
    expect(s.of("outage.opened")).toEqual([]);
    expect(s.of("partial.opened")).toEqual([]);
    expect(s.engine.agents().map((a) => a.agentId)).toEqual(["agent-ap-south", "agent-eu-west", "agent-us-east"]);
    expect(s.engine.stats().ignoredNotVoter).toBe(5 * 6);
    expect(s.engine.stats().agents).toBe(3);
  });

  it("a revoked agent's votes are withdrawn: the outage it made up resolves, its region goes", () => {
    const regions = [...R3, "sa-east"];
    const voters = enrolled(regions);
    const s = sim([{ checkId: "web" }, { checkId: "pinned", regions: ["eu-west", "us-east"] }], {
      mayVote: voters.mayVote,
    });
    s.round("web", all(regions, "up"));
    s.round("pinned", all(["eu-west", "us-east"], "up"));
    // Two compromised agents report a healthy target down: with 4 regions, 2 down is no majority...
    // three are: the third tips it.
    for (let k = 0; k < 3; k++)
      s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "down", "sa-east": "up" });
    s.round("pinned", { "eu-west": "down", "us-east": "up" });
    expect(s.engine.status("web")?.state).toBe("down");
    const [outage] = s.of("outage.opened");
    expect(outage?.outage.regions).toEqual(["ap-south", "eu-west", "us-east"]);

    for (const id of ["agent-eu-west", "agent-us-east"]) {
      voters.revoke(id);
      s.transitions.push(...s.engine.removeAgent(id));
    }
    expect(s.engine.agent("agent-eu-west")).toBeUndefined();
    expect(s.engine.stats().agents).toBe(2);
    // The check that runs everywhere forgets the regions only they voted in; the pinned one keeps its
    // configured regions, with no votes there.
    expect(Object.keys(s.engine.status("web")!.regions).sort()).toEqual(["ap-south", "sa-east"]);
    expect(Object.keys(s.engine.status("pinned")!.regions).sort()).toEqual(["eu-west", "us-east"]);
    expect(s.engine.status("pinned")!.regions["eu-west"]?.agents).toEqual([]);
    const resolvedRegions = s.of("region.resolved").map((t) => t.outage.regions[0]);
    expect(resolvedRegions.sort()).toEqual(["eu-west", "us-east"]);
    // Their later results count for nothing.
    for (let k = 0; k < 3; k++)
      s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up", "sa-east": "up" });
    expect(s.engine.status("web")?.state).toBe("up");
    expect(s.of("outage.resolved").map((t) => t.outage.id)).toEqual([outage!.outage.id]);
    expect(s.engine.removeAgent("agent-eu-west")).toEqual([]);
  });

  it("property: no stream of results grows regions or voters beyond the enrolled ones, revocations included", () => {
    const REGIONS = ["r0", "r1", "r2", "r3", "r4", "r5"];
    const AGENTS = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"];
    const step = fc.oneof(
      {
        weight: 12,
        arbitrary: fc.record({
          kind: fc.constant("result" as const),
          checkId: fc.constantFrom("everywhere", "pinned", "unknown"),
          agentId: fc.constantFrom(...AGENTS),
          region: fc.constantFrom(...REGIONS, "invented"),
          // Half the results claim the agent's enrolled region, so views exist for revocation to remove.
          own: fc.boolean(),
          state: fc.constantFrom<ProbeStateName>("up", "down", "degraded"),
          gapMs: fc.integer({ min: 1, max: 20_000 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("revoke" as const), agentId: fc.constantFrom(...AGENTS) }),
      },
    );
    fc.assert(
      fc.property(
        // Which agents are enrolled, and for which region (some not at all).
        fc.array(fc.option(fc.constantFrom(...REGIONS.slice(0, 4))), {
          minLength: AGENTS.length,
          maxLength: AGENTS.length,
        }),
        fc.array(step, { minLength: 1, maxLength: 200 }),
        (enrollment, steps) => {
          const active = new Map<string, string>();
          enrollment.forEach((r, i) => r !== null && active.set(AGENTS[i]!, r));
          const s = sim(
            [
              { checkId: "everywhere", failureThreshold: 1, recoveryThreshold: 1 },
              { checkId: "pinned", regions: ["r0", "r5"], failureThreshold: 1 },
            ],
            { mayVote: (id, region) => active.get(id) === region },
          );
          for (const st of steps) {
            if (st.kind === "revoke") {
              active.delete(st.agentId);
              s.engine.removeAgent(st.agentId);
              continue;
            }
            s.setClock(s.clock() + st.gapMs);
            const region = (st.own && active.get(st.agentId)) || st.region;
            s.observe({ checkId: st.checkId, agentId: st.agentId, region, state: st.state });
            s.tick();
          }
          const activeRegions = new Set(active.values());
          for (const [checkId, configured] of [
            ["everywhere", []],
            ["pinned", ["r0", "r5"]],
          ] as const) {
            const status = s.engine.status(checkId)!;
            for (const [region, r] of Object.entries(status.regions)) {
              expect(activeRegions.has(region) || (configured as readonly string[]).includes(region)).toBe(true);
              for (const a of r.agents) expect(active.get(a.agentId)).toBe(region);
            }
          }
          for (const a of s.engine.agents()) expect(active.get(a.agentId)).toBe(a.region);
          expect(s.engine.status("unknown")).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});
