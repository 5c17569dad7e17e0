// Impairment judged in one partition's engine, shared with the others (setExternalImpairment): the
// canary lives in one partition, the agent's other checks in others.
import { describe, expect, it } from "vitest";
import { sim, type Report } from "./simulation.js";

const R3 = ["eu-west", "us-east", "ap-south"];
const BROKEN = "agent-eu-west";
/** eu-west's agent fails everything (its DNS is broken); the others see the targets work. */
const euBroken: Record<string, Report> = {
  "eu-west": { state: "down", reason: "dns" },
  "us-east": "up",
  "ap-south": "up",
};

/** Partition A holds the canary, partition B a normal check: two engines, as two deciders run them. */
function partitions() {
  const a = sim([
    { checkId: "canary", regions: [...R3], canary: true },
    { checkId: "web-a", regions: [...R3] },
  ]);
  const b = sim([{ checkId: "web-b", regions: [...R3] }]);
  a.roundMany(["canary", "web-a"], { "eu-west": "up", "us-east": "up", "ap-south": "up" });
  b.round("web-b", { "eu-west": "up", "us-east": "up", "ap-south": "up" });
  return { a, b };
}

describe("impairment shared across partitions", () => {
  it("without a shared mark, the other partition's check takes the impaired agent's failures as a partial", () => {
    const { a, b } = partitions();
    for (let k = 0; k < 6; k++) {
      a.roundMany(["canary", "web-a"], euBroken);
      b.round("web-b", euBroken);
    }
    expect(a.of("agent.impaired")).toHaveLength(1);
    expect(a.of("partial.opened")).toEqual([]);
    // The regression: partition B never learns of the impairment.
    expect(b.of("partial.opened").map((t) => t.checkId)).toEqual(["web-b"]);
  });

  it("an agent impaired in another partition abstains here, with no agent.* transition", () => {
    const { a, b } = partitions();
    for (let k = 0; k < 6; k++) {
      a.roundMany(["canary", "web-a"], euBroken);
      const [impaired] = a.of("agent.impaired");
      if (impaired) b.transitions.push(...b.engine.setExternalImpairment(impaired.agentId, impaired.reason));
      b.round("web-b", euBroken);
    }
    expect(b.of("partial.opened")).toEqual([]);
    expect(b.of("outage.opened")).toEqual([]);
    expect(b.of("agent.impaired")).toEqual([]);
    expect(b.engine.status("web-b")?.state).toBe("up");
    expect(b.engine.status("web-b")?.regions["eu-west"]).toMatchObject({
      state: "unknown",
      impaired: true,
      impairedReason: `agent ${BROKEN} impaired: canary check "canary" failing (dns)`,
    });
    // Its own judgement is untouched: this engine did not judge it.
    expect(b.engine.agent(BROKEN)).toMatchObject({ impaired: false });
  });

  it("a mark set before the agent's first result applies, and its end discards failures seen meanwhile", () => {
    const { b } = partitions();
    const fresh = sim([{ checkId: "web-b", regions: [...R3] }]);
    expect(fresh.engine.setExternalImpairment(BROKEN, "canary down")).toEqual([]);
    for (let k = 0; k < 4; k++) fresh.round("web-b", euBroken);
    expect(fresh.engine.status("web-b")?.regions["eu-west"]).toMatchObject({ impaired: true });
    expect(fresh.of("partial.opened")).toEqual([]);

    b.engine.setExternalImpairment(BROKEN, "canary down");
    for (let k = 0; k < 4; k++) b.round("web-b", euBroken);
    // The mark ends while the agent still fails web-b: its streak from while it was impaired does not vote.
    const cleared = b.engine.setExternalImpairment(BROKEN, null);
    expect(cleared.filter((t) => t.type.startsWith("agent."))).toEqual([]);
    expect(cleared.filter((t) => t.type === "partial.opened")).toEqual([]);
    expect(b.engine.status("web-b")?.regions["eu-west"]?.state).not.toBe("down");
    // Fresh failures then count as usual: it is a voter again.
    for (let k = 0; k < 6; k++) b.round("web-b", euBroken);
    expect(b.engine.status("web-b")?.regions["eu-west"]?.state).toBe("down");
    expect(b.of("agent.recovered")).toEqual([]);
  });

  it("the judging engine's own impairment and recovery are unchanged by a mark from elsewhere", () => {
    const { a } = partitions();
    a.engine.setExternalImpairment(BROKEN, "other partition");
    for (let k = 0; k < 3; k++) a.roundMany(["canary", "web-a"], euBroken);
    expect(a.of("agent.impaired")).toHaveLength(1);
    for (let k = 0; k < 3; k++)
      a.roundMany(["canary", "web-a"], { "eu-west": "up", "us-east": "up", "ap-south": "up" });
    expect(a.of("agent.recovered")).toHaveLength(1);
    // Still marked elsewhere: it keeps abstaining here.
    expect(a.engine.status("web-a")?.regions["eu-west"]).toMatchObject({ impaired: true });
  });
});
