import { describe, expect, it } from "vitest";
import { all, INTERVAL, sim } from "./simulation.js";
import type { Outage } from "./types.js";

const R3 = ["eu-west", "us-east", "ap-south"] as const;
const R4 = ["eu-west", "us-east", "ap-south", "sa-east"] as const;

function opened(s: ReturnType<typeof sim>, kind: "outage" | "partial" | "region"): Outage[] {
  return s.of(`${kind}.opened`).map((t) => t.outage);
}

describe("consensus engine", () => {
  it("one region failing: partial with that region, no outage", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    s.round("web", all(R3, "up"));
    const firstFailure = s.clock() + 10; // eu-west reports first in a round
    for (let k = 0; k < 6; k++) s.round("web", { "eu-west": "down", "us-east": "up", "ap-south": "up" });
    expect(s.engine.status("web")?.state).toBe("partial");
    expect(opened(s, "outage")).toEqual([]);
    const [partial] = opened(s, "partial");
    expect(partial).toMatchObject({
      kind: "partial",
      state: "open",
      regions: ["eu-west"],
      startedAt: firstFailure,
      reason: "connect",
    });
    const status = s.engine.status("web")!;
    expect(status.regions["eu-west"]).toMatchObject({ state: "down", impaired: false });
    expect(status.regions["us-east"]?.state).toBe("up");
    expect(status.outage?.id).toBe(partial!.id);
    // The region's own down interval is recorded too (per-region availability).
    expect(opened(s, "region").map((o) => o.regions)).toEqual([["eu-west"]]);
  });

  it("a quorum failing opens an outage whose startedAt is the first failing observation of the quorum", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    s.round("web", all(R3, "up"));
    const t0 = s.clock();
    s.round("web", { "eu-west": "up", "us-east": { state: "down", reason: "timeout" }, "ap-south": "down" });
    expect(s.of("outage.opened")).toEqual([]);
    const before = s.clock();
    s.round("web", {
      "eu-west": { state: "down", reason: "timeout" },
      "us-east": { state: "down", reason: "timeout" },
      "ap-south": "down",
    });
    const [outage] = opened(s, "outage");
    expect(outage).toBeDefined();
    // us-east's first failure (2nd in the round, +20 ms) is the earliest among the quorum (us-east, ap-south).
    expect(outage!.startedAt).toBe(t0 + 20);
    // Decided when ap-south's second failure arrived (3rd in the round, +30 ms, done 5 ms later).
    expect(outage!.confirmedAt).toBe(before + 35);
    expect(outage!.regions).toEqual(["ap-south", "us-east"]);
    expect(outage!.reason).toBe("connect"); // ap-south: connect, us-east: timeout -> tie, alphabetical
    expect(s.engine.status("web")?.state).toBe("down");
    // us-east went down first, but the check became an outage within the partial's hold: one incident,
    // one announcement (no partial.opened / partial.resolved pair before it).
    expect(s.of("partial.opened")).toEqual([]);
    expect(s.of("partial.resolved")).toEqual([]);
  });

  it("a probe that cannot run abstains: every region errors -> unknown with reason error, one check.error, no outage", () => {
    const s = sim([{ checkId: "dns", regions: [...R3] }]);
    s.round("dns", all(R3, "up"));
    const internal = { state: "down", reason: "internal" } as const;
    const firstError = s.clock() + 10; // eu-west reports first in a round
    for (let k = 0; k < 5; k++) s.round("dns", { "eu-west": internal, "us-east": internal, "ap-south": internal });
    expect(s.of("outage.opened")).toEqual([]);
    expect(s.of("partial.opened")).toEqual([]);
    expect(s.of("region.opened")).toEqual([]);
    const status = s.engine.status("dns")!;
    expect(status).toMatchObject({ state: "unknown", reason: "error" });
    expect(status.regions["eu-west"]).toMatchObject({ state: "error", error: "agent agent-eu-west: internal" });
    expect(status.regions["eu-west"]?.agents[0]).toMatchObject({ error: "internal" });
    // Its episode is keyed by the first prober error of the regions in error (result data), not by when it was decided.
    expect(s.of("check.error")).toMatchObject([{ checkId: "dns", episode: `error:dns:${firstError}` }]);
    expect(s.of("check.error")[0]!.at).toBeGreaterThan(firstError);
    expect(s.of("check.error.resolved")).toEqual([]);
    // Once the probes run again, the check is judged again, the episode ends, and a later one is announced again.
    for (let k = 0; k < 2; k++) s.round("dns", all(R3, "up"));
    expect(s.engine.status("dns")).toMatchObject({ state: "up", reason: "" });
    const [first] = s.of("check.error");
    expect(s.of("check.error.resolved")).toEqual([
      {
        type: "check.error.resolved",
        checkId: "dns",
        at: expect.any(Number),
        since: first!.at,
        episode: first!.episode,
        cause: "verdict",
      },
    ]);
    expect(s.of("check.error.resolved")[0]!.at).toBeGreaterThan(first!.at);
    const secondError = s.clock() + 10;
    s.round("dns", { "eu-west": internal, "us-east": internal, "ap-south": internal });
    expect(s.of("check.error")).toHaveLength(2);
    expect(s.of("check.error")[1]!.episode).toBe(`error:dns:${secondError}`);
    expect(s.of("check.error.resolved")).toHaveLength(1);
  });

  it("a check.error episode ends on a verdict or a deletion, never on silence", () => {
    const s = sim([{ checkId: "dns", regions: [...R3] }]);
    const internal = { state: "down", reason: "internal" } as const;
    const errors = { "eu-west": internal, "us-east": internal, "ap-south": internal };
    s.round("dns", errors);
    const [episode] = s.of("check.error");
    expect(episode).toBeDefined();
    // Every agent falls silent, then errors again: one episode, neither resolved nor re-announced.
    for (let k = 0; k < 5; k++) s.round("dns", { "eu-west": null, "us-east": null, "ap-south": null });
    expect(s.engine.status("dns")?.reason).toBe("quorum unreachable");
    s.round("dns", errors);
    expect(s.of("check.error")).toHaveLength(1);
    expect(s.of("check.error.resolved")).toEqual([]);
    // One region judging the target again (even below quorum) ends it: a vantage point can probe it.
    s.round("dns", { "eu-west": "up", "us-east": internal, "ap-south": internal });
    expect(s.engine.status("dns")?.state).toBe("unknown");
    expect(s.of("check.error.resolved")).toMatchObject([
      { since: episode!.at, episode: episode!.episode, cause: "verdict" },
    ]);
    // Deleting a check with an open episode ends it too, once.
    s.round("dns", errors);
    const [, second] = s.of("check.error");
    expect(second).toBeDefined();
    const removed = s.engine.removeCheck("dns");
    expect(removed.filter((t) => t.type === "check.error.resolved")).toEqual([
      {
        type: "check.error.resolved",
        checkId: "dns",
        at: s.clock(),
        since: second!.at,
        episode: second!.episode,
        cause: "check.deleted",
      },
    ]);
  });

  it("replacing what an erroring check probes ends its episode; a check with none open emits nothing", () => {
    const s = sim([{ checkId: "dns", regions: [...R3] }]);
    const internal = { state: "down", reason: "internal" } as const;
    s.round("dns", { "eu-west": internal, "us-east": internal, "ap-south": internal });
    const policy = { checkId: "dns", regions: [...R3], intervalMs: INTERVAL, timeoutMs: 2_000 };
    const replaced = s.engine.upsertCheck(policy, { replaced: true });
    expect(replaced.filter((t) => t.type === "check.error.resolved")).toMatchObject([{ cause: "check.replaced" }]);
    expect(s.engine.removeCheck("dns").filter((t) => t.type === "check.error.resolved")).toEqual([]);
  });

  it("a check that cannot reach quorum says so and names the regions missing", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    expect(s.engine.status("web")).toMatchObject({
      state: "unknown",
      reason: "quorum unreachable",
      missingRegions: ["ap-south", "eu-west", "us-east"],
    });
    // One region of three reporting cannot decide under majority.
    for (let k = 0; k < 3; k++) s.round("web", { "eu-west": "down", "us-east": null, "ap-south": null });
    expect(s.engine.status("web")).toMatchObject({
      state: "unknown",
      reason: "quorum unreachable",
      missingRegions: ["ap-south", "us-east"],
    });
    for (let k = 0; k < 2; k++) s.round("web", all(R3, "up"));
    const up = s.engine.status("web")!;
    expect(up).toMatchObject({ state: "up", reason: "" });
    expect(up.missingRegions).toBeUndefined();
  });

  it("prober errors in one region leave the decision to the others, and never break or extend a streak", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    s.round("web", all(R3, "up"));
    const capability = { state: "down", reason: "capability" } as const;
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": capability });
    expect(s.engine.status("web")?.regions["ap-south"]?.state).toBe("error");
    // eu-west's streak survives an error in between: error, then its 2nd failure makes it down.
    s.round("web", { "eu-west": capability, "us-east": "down", "ap-south": capability });
    expect(s.engine.status("web")?.regions["eu-west"]?.state).toBe("error");
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": capability });
    const [outage] = opened(s, "outage");
    expect(outage?.regions).toEqual(["eu-west", "us-east"]);
    expect(s.of("check.error")).toEqual([]);
  });

  it("a 2-of-4 tie under majority is partial, never down", () => {
    const s = sim([{ checkId: "web", regions: [...R4] }]);
    for (let k = 0; k < 8; k++)
      s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up", "sa-east": "up" });
    expect(s.engine.status("web")?.state).toBe("partial");
    expect(s.of("outage.opened")).toEqual([]);
    // Announced once it held for an interval plus the timeout: both regions were down by then.
    const [partial] = opened(s, "partial");
    expect(partial?.regions).toEqual(["eu-west", "us-east"]);
    expect(s.engine.status("web")?.outage?.regions).toEqual(["eu-west", "us-east"]);
    // A third region tips it: the outage absorbs the announced partial, which is not "resolved".
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "down", "sa-east": "up" });
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "down", "sa-east": "up" });
    expect(s.engine.status("web")?.state).toBe("down");
    const [outage] = opened(s, "outage");
    expect(s.of("partial.resolved")).toEqual([]);
    expect(s.of("partial.absorbed")).toMatchObject([
      { outage: { id: partial!.id, state: "resolved" }, by: outage!.id },
    ]);
    expect(outage!.startedAt).toBe(partial!.startedAt);
  });

  it("a silent region becomes unknown at 2 intervals + timeout and is excluded from the quorum", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    s.round("web", all(R3, "up"));
    const lastAp = s.clock() - INTERVAL + 30;
    s.round("web", { "eu-west": "up", "us-east": "up", "ap-south": null });
    s.round("web", { "eu-west": "up", "us-east": "up", "ap-south": null });
    s.tick(s.clock() + INTERVAL);
    const stale = s.of("region.state").find((t) => t.region === "ap-south" && t.to === "unknown");
    expect(stale).toMatchObject({ from: "up", to: "unknown", reason: "no fresh results" });
    // Exactly at its deadline, whatever the tick cadence.
    expect(stale!.at).toBe(lastAp + 2 * INTERVAL + 2_000);
    expect(s.engine.status("web")?.regions["ap-south"]?.state).toBe("unknown");
    // The two fresh regions (a majority of three) still decide: both down = outage.
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": null });
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": null });
    expect(s.engine.status("web")?.state).toBe("down");
    expect(opened(s, "outage")[0]?.regions).toEqual(["eu-west", "us-east"]);
  });

  it("one fresh region among silent ones cannot decide: unknown, no outage", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    for (let k = 0; k < 5; k++) s.round("web", { "eu-west": "down", "us-east": null, "ap-south": null });
    expect(s.engine.status("web")?.state).toBe("unknown");
    expect(s.of("outage.opened")).toEqual([]);
  });

  it("an impaired agent failing everything abstains: no partial, no outage, and the API says why", () => {
    const ids = ["c1", "c2", "c3", "c4", "c5", "c6"];
    const s = sim(ids.map((checkId) => ({ checkId, regions: [...R3] })));
    for (let k = 0; k < 5; k++)
      s.roundMany(ids, { "eu-west": { state: "down", reason: "connect" }, "us-east": "up", "ap-south": "up" });
    const impaired = s.of("agent.impaired");
    expect(impaired).toHaveLength(1);
    expect(impaired[0]).toMatchObject({ agentId: "agent-eu-west", region: "eu-west" });
    expect(impaired[0]!.reason).toMatch(/checks failing while other regions see them up/);
    expect(s.of("outage.opened")).toEqual([]);
    expect(s.of("partial.opened")).toEqual([]);
    for (const id of ids) {
      const st = s.engine.status(id)!;
      expect(st.state).toBe("up");
      expect(st.regions["eu-west"]).toMatchObject({ state: "unknown", impaired: true });
      expect(st.regions["eu-west"]!.impairedReason).toMatch(/agent-eu-west impaired/);
    }
    expect(s.engine.agent("agent-eu-west")).toMatchObject({ impaired: true, checks: 6, contradicted: 6 });
    // When its view heals, it votes again.
    for (let k = 0; k < 3; k++) s.roundMany(ids, all(R3, "up"));
    expect(s.of("agent.recovered")).toHaveLength(1);
    expect(s.engine.status("c1")?.regions["eu-west"]).toMatchObject({ state: "up", impaired: false });
  });

  it("failures seen while impaired do not vote after the agent recovers", () => {
    const ids = ["c1", "c2", "c3", "c4", "c5", "c6"];
    const s = sim(ids.map((checkId) => ({ checkId, regions: [...R3] })));
    const eu = (failing: readonly string[]) => (id: string) =>
      s.round(id, { "eu-west": failing.includes(id) ? "down" : "up", "us-east": "up", "ap-south": "up" });
    for (let k = 0; k < 3; k++) s.roundMany(ids, { "eu-west": "down", "us-east": "up", "ap-south": "up" });
    expect(s.engine.agent("agent-eu-west")?.impaired).toBe(true);
    // Its network heals except towards c6: 1 of 6 contradicted is below the recovery share.
    for (const id of ids) eu(["c6"])(id);
    expect(s.engine.agent("agent-eu-west")?.impaired).toBe(false);
    // c6's old failure streak (counted while impaired) does not make eu-west down at once...
    expect(s.engine.status("c6")?.regions["eu-west"]?.state).not.toBe("down");
    expect(s.of("partial.opened")).toEqual([]);
    // ...but fresh failures do, as a regional incident.
    for (let k = 0; k < 2; k++) s.roundMany(ids, { "eu-west": "up", "us-east": "up", "ap-south": "up" });
    // Two failures make eu-west down; the partial is announced with the first result completing
    // after its hold (an interval and a timeout on the results' clock): two rounds later here, as
    // every region reports at the same moment of each round.
    for (let k = 0; k < 3; k++) s.roundMany(["c6"], { "eu-west": "down", "us-east": "up", "ap-south": "up" });
    expect(s.of("partial.opened")).toEqual([]);
    s.roundMany(["c6"], { "eu-west": "down", "us-east": "up", "ap-south": "up" });
    expect(s.of("partial.opened").map((t) => t.checkId)).toEqual(["c6"]);
  });

  it("an agent whose clock runs 30 s fast does not end a partial's hold at once", () => {
    const s = sim([{ checkId: "web", regions: [...R3], failureThreshold: 1 }]);
    s.round("web", all(R3, "up"));
    // eu-west fails: partial, held for an interval and the timeout.
    s.observe({ checkId: "web", region: "eu-west", state: "down", reason: "connect" });
    expect(s.engine.status("web")?.state).toBe("partial");
    // us-east's agent reports moments later, dated 30 s ahead: its result is not proof that the
    // hold has passed.
    s.setClock(s.clock() + 100);
    s.observe({ checkId: "web", region: "us-east", startedAt: s.clock() + 30_000 });
    expect(s.of("partial.opened")).toEqual([]);
    // A result completing after the hold on this replica's clock ends it.
    s.setClock(s.clock() + INTERVAL + 2_000);
    s.observe({ checkId: "web", region: "ap-south" });
    expect(s.of("partial.opened").map((t) => t.outage.regions)).toEqual([["eu-west"]]);
  });

  it("a target down everywhere is an outage, not an impaired agent", () => {
    const ids = ["c1", "c2", "c3", "c4", "c5", "c6"];
    const s = sim(ids.map((checkId) => ({ checkId, regions: [...R3] })));
    for (let k = 0; k < 3; k++) s.roundMany(ids, all(R3, "down"));
    expect(s.of("agent.impaired")).toEqual([]);
    expect(s.of("outage.opened")).toHaveLength(6);
  });

  it("an agent whose canary fails is impaired and its region abstains", () => {
    const s = sim([
      { checkId: "web", regions: [...R3] },
      { checkId: "canary", regions: [...R3], canary: true },
    ]);
    s.roundMany(["web", "canary"], all(R3, "up"));
    for (let k = 0; k < 2; k++)
      s.roundMany(["canary", "web"], {
        "eu-west": { state: "down", reason: "dns" },
        "us-east": "up",
        "ap-south": "up",
      });
    const [imp] = s.of("agent.impaired");
    expect(imp).toMatchObject({ agentId: "agent-eu-west", reason: 'canary check "canary" failing (dns)' });
    for (let k = 0; k < 4; k++)
      s.roundMany(["canary", "web"], {
        "eu-west": { state: "down", reason: "dns" },
        "us-east": "up",
        "ap-south": "up",
      });
    expect(s.engine.status("web")?.state).toBe("up");
    expect(s.engine.status("web")?.regions["eu-west"]).toMatchObject({ state: "unknown", impaired: true });
    expect(s.of("partial.opened").filter((t) => t.checkId === "web")).toEqual([]);
    expect(s.engine.agents().find((a) => a.agentId === "agent-eu-west")).toMatchObject({
      impaired: true,
      canariesDown: 1,
    });
  });

  it("a flapping target under hysteresis makes one outage, not ten", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    s.round("web", all(R3, "up"));
    for (let k = 0; k < 10; k++) {
      s.round("web", all(R3, "down"));
      s.round("web", all(R3, "down"));
      s.round("web", all(R3, "up")); // one success < recoveryThreshold 2
    }
    s.round("web", all(R3, "up"));
    s.round("web", all(R3, "up"));
    expect(s.of("outage.opened")).toHaveLength(1);
    expect(s.of("outage.resolved")).toHaveLength(1);
    // And alternating single failures never reach failureThreshold 2 at all.
    const t = sim([{ checkId: "web", regions: [...R3] }]);
    for (let k = 0; k < 20; k++) t.round("web", all(R3, k % 2 ? "up" : "down"));
    expect(t.of("outage.opened")).toEqual([]);
    expect(t.of("check.state").map((x) => x.to)).toEqual(["up"]);
  });

  it("recovery is confirmed only after M consecutive successes", () => {
    const s = sim([{ checkId: "web", regions: [...R3], recoveryThreshold: 3 }]);
    for (let k = 0; k < 3; k++) s.round("web", all(R3, "down"));
    expect(s.engine.status("web")?.state).toBe("down");
    s.round("web", all(R3, "up"));
    s.round("web", all(R3, "up"));
    expect(s.engine.status("web")?.state).toBe("down");
    expect(s.of("outage.resolved")).toEqual([]);
    const third = s.clock();
    s.round("web", all(R3, "up"));
    const [res] = s.of("outage.resolved");
    expect(res?.outage).toMatchObject({ state: "resolved", regions: ["ap-south", "eu-west", "us-east"] });
    // The second region's third success (us-east, +20 ms) is the one that ends the quorum.
    expect(res?.outage.resolvedAt).toBe(third + 25);
    expect(s.engine.status("web")?.state).toBe("up");
    expect(s.engine.openIncidents()).toEqual([]);
  });

  it("a failure streak broken by one success starts again from zero", () => {
    const s = sim([{ checkId: "web", regions: [...R3], failureThreshold: 3 }]);
    s.round("web", all(R3, "down"));
    s.round("web", all(R3, "down"));
    s.round("web", all(R3, "up"));
    s.round("web", all(R3, "down"));
    s.round("web", all(R3, "down"));
    expect(s.engine.status("web")?.state).toBe("up");
    s.round("web", all(R3, "down"));
    expect(s.engine.status("web")?.state).toBe("down");
  });

  it("a check edited mid-outage: quorum raised to all resolves the outage into a partial", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    for (let k = 0; k < 3; k++) s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up" });
    const [outage] = opened(s, "outage");
    expect(outage).toBeDefined();
    // Same state after an edit that changes nothing decisive: same outage, no new events.
    const same = s.engine.upsertCheck({
      checkId: "web",
      regions: [...R3],
      intervalMs: INTERVAL,
      timeoutMs: 2_000,
      failureThreshold: 3,
    });
    expect(same.filter((t) => t.type.startsWith("outage"))).toEqual([]);
    expect(s.engine.status("web")?.outage?.id).toBe(outage!.id);
    const ts = s.engine.upsertCheck({
      checkId: "web",
      regions: [...R3],
      intervalMs: INTERVAL,
      timeoutMs: 2_000,
      quorum: "all",
    });
    expect(ts.map((t) => t.type)).toContain("outage.resolved");
    expect(s.engine.status("web")?.state).toBe("partial");
    // The regional incident left behind is announced after its hold, like any other partial.
    expect(ts.map((t) => t.type)).not.toContain("partial.opened");
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up" });
    s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up" });
    expect(opened(s, "partial")).toMatchObject([{ regions: ["eu-west", "us-east"] }]);
  });

  it("a check edited mid-outage: a lower recovery threshold applies to the streak already counted", () => {
    const s = sim([{ checkId: "web", regions: [...R3], recoveryThreshold: 5 }]);
    for (let k = 0; k < 3; k++) s.round("web", all(R3, "down"));
    s.round("web", all(R3, "up"));
    s.round("web", all(R3, "up"));
    expect(s.engine.status("web")?.state).toBe("down");
    const ts = s.engine.upsertCheck({
      checkId: "web",
      regions: [...R3],
      intervalMs: INTERVAL,
      timeoutMs: 2_000,
      recoveryThreshold: 2,
    });
    expect(ts.map((t) => t.type)).toContain("outage.resolved");
    expect(s.engine.status("web")?.state).toBe("up");
  });

  it("regions added to and removed from a check", () => {
    const s = sim([{ checkId: "web", regions: ["eu-west", "us-east", "ap-south"] }]);
    for (let k = 0; k < 3; k++)
      s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up", "sa-east": "down" });
    expect(s.engine.stats().ignoredOtherRegion).toBe(3); // sa-east is not one of the check's regions
    expect(s.engine.status("web")?.state).toBe("down");
    // Removing us-east leaves eu-west (down) and ap-south (up): a tie, so partial; the outage ends.
    const removed = s.engine.upsertCheck({
      checkId: "web",
      regions: ["eu-west", "ap-south"],
      intervalMs: INTERVAL,
      timeoutMs: 2_000,
    });
    expect(removed.map((t) => t.type)).toEqual(expect.arrayContaining(["region.resolved", "outage.resolved"]));
    expect(Object.keys(s.engine.status("web")!.regions)).toEqual(["ap-south", "eu-west"]);
    // Adding sa-east: unknown until it reports, then it counts.
    s.engine.upsertCheck({
      checkId: "web",
      regions: ["eu-west", "ap-south", "sa-east"],
      intervalMs: INTERVAL,
      timeoutMs: 2_000,
    });
    expect(s.engine.status("web")?.regions["sa-east"]?.state).toBe("unknown");
    for (let k = 0; k < 2; k++) s.round("web", { "eu-west": "down", "ap-south": "up", "sa-east": "down" });
    expect(s.engine.status("web")?.state).toBe("down");
    expect(opened(s, "outage").at(-1)?.regions).toEqual(["eu-west", "sa-east"]);
  });

  it("a removed check abandons its open incidents: never a recovery", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    for (let k = 0; k < 3; k++) s.round("web", all(R3, "down"));
    const ts = s.engine.removeCheck("web");
    expect(ts.filter((t) => t.type.endsWith(".resolved"))).toEqual([]);
    const abandoned = ts.filter((t) => t.type === "incident.abandoned");
    expect(abandoned.map((t) => [t.outage.kind, t.outage.state, t.cause])).toEqual([
      ["region", "abandoned", "check.deleted"],
      ["region", "abandoned", "check.deleted"],
      ["region", "abandoned", "check.deleted"],
      ["outage", "abandoned", "check.deleted"],
    ]);
    expect(s.engine.status("web")).toBeUndefined();
    expect(s.engine.openIncidents()).toEqual([]);
    expect(s.engine.stats().views).toBe(0);
  });

  it("a check whose target is replaced abandons its outage, and only results of the new version vote", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    for (let k = 0; k < 3; k++) s.round("web", all(R3, "down"));
    const [outage] = opened(s, "outage");
    const ts = s.engine.upsertCheck(
      { checkId: "web", regions: [...R3], intervalMs: INTERVAL, timeoutMs: 2_000, sinceVersion: 2 },
      { replaced: true },
    );
    expect(ts.filter((t) => t.type.endsWith(".resolved"))).toEqual([]);
    expect(ts.filter((t) => t.type === "incident.abandoned").map((t) => "outage" in t && t.outage.id)).toContain(
      outage!.id,
    );
    expect(s.engine.status("web")).toMatchObject({ state: "unknown", outage: null });
    // A late result about the old target (version 1) is ignored; the new target's results decide.
    s.observe({ checkId: "web", region: "eu-west", state: "down", reason: "connect", checkVersion: 1 });
    expect(s.engine.stats().ignoredOldVersion).toBe(1);
    for (let k = 0; k < 2; k++) s.round("web", all(R3, "up"));
    expect(s.engine.status("web")?.state).toBe("up");
    expect(s.of("outage.resolved")).toEqual([]);
  });

  it("results from before the check existed never vote (a re-created id starts clean)", () => {
    const s = sim([{ checkId: "web", regions: [...R3], notBefore: 1_000_000 + INTERVAL }]);
    for (let k = 0; k < 1; k++) s.round("web", all(R3, "down"));
    expect(s.engine.stats().ignoredOldVersion).toBe(3);
    expect(s.engine.status("web")?.state).toBe("unknown");
    s.round("web", all(R3, "up"));
    expect(s.engine.status("web")?.state).toBe("up");
  });

  it("several agents in one region: the region follows the majority of its fresh agents", () => {
    const s = sim([{ checkId: "web", regions: ["eu-west"] }]);
    const three = (a: "up" | "down", b: "up" | "down", c: "up" | "down"): void => {
      for (const [id, st] of [
        ["e1", a],
        ["e2", b],
        ["e3", c],
      ] as const) {
        s.observe({
          checkId: "web",
          region: "eu-west",
          agentId: id,
          state: st,
          reason: st === "down" ? "connect" : "",
        });
        s.setClock(s.clock() + 1);
      }
      s.setClock(s.clock() + INTERVAL);
    };
    three("down", "up", "up");
    three("down", "up", "up");
    expect(s.engine.status("web")?.regions["eu-west"]?.state).toBe("up");
    three("down", "down", "up");
    three("down", "down", "up");
    expect(s.engine.status("web")?.regions["eu-west"]?.state).toBe("down");
    expect(s.engine.status("web")?.regions["eu-west"]?.agents.map((a) => a.agentId)).toEqual(["e1", "e2", "e3"]);
  });

  it("duplicates and out-of-order results are ignored and counted", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    const r = { checkId: "web", region: "eu-west", state: "down" as const, reason: "connect", startedAt: s.clock() };
    s.observe(r);
    s.observe(r);
    s.observe({ ...r, startedAt: r.startedAt - 1 });
    expect(s.engine.stats()).toMatchObject({ observed: 1, ignoredOutOfOrder: 2 });
    expect(s.engine.status("web")?.regions["eu-west"]?.agents[0]?.state).toBe("unknown"); // one failure < threshold
  });

  it("a result dated far in the future (agent clock wrong) is ignored: it cannot freeze its region's vote", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    for (let k = 0; k < 3; k++) s.round("web", all(R3, "up"));
    // One eu-west result a day ahead, then the target really fails in eu-west and us-east.
    s.observe({ checkId: "web", region: "eu-west", state: "up", startedAt: s.clock() + 86_400_000 });
    expect(s.engine.stats()).toMatchObject({ ignoredFuture: 1 });
    for (let k = 0; k < 3; k++) s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up" });
    expect(s.engine.status("web")?.regions["eu-west"]?.state).toBe("down");
    expect(s.engine.status("web")?.state).toBe("down");
    expect(s.of("outage.opened")).toHaveLength(1);
    // A small skew is tolerated (default 60 s).
    s.observe({ checkId: "web", region: "ap-south", state: "up", startedAt: s.clock() + 30_000 });
    expect(s.engine.stats()).toMatchObject({ ignoredFuture: 1 });
  });

  it("results of unknown checks and malformed results are counted, not thrown", () => {
    const s = sim([]);
    expect(() => s.observe({ checkId: "nope", region: "eu-west" })).not.toThrow();
    expect(() => s.observe({ checkId: "x", region: "", state: "weird" as never })).not.toThrow();
    expect(s.engine.stats()).toMatchObject({ ignoredUnknownCheck: 1, ignoredInvalid: 1 });
  });

  it("policyFor lets results of a check the engine has not seen yet in", () => {
    const s = sim([], {
      policyFor: (id) =>
        id === "late"
          ? {
              checkId: "late",
              intervalMs: INTERVAL,
              timeoutMs: 1000,
              regions: [],
              failureThreshold: 1,
              recoveryThreshold: 1,
              quorum: "any",
              canary: false,
            }
          : undefined,
    });
    s.observe({ checkId: "late", region: "eu-west", state: "down" });
    expect(s.engine.status("late")?.state).toBe("down");
  });

  it("degraded and recovered follow the quorum of slow regions", () => {
    const s = sim([{ checkId: "web", regions: [...R3] }]);
    s.round("web", all(R3, "up"));
    s.round("web", { "eu-west": "degraded", "us-east": "up", "ap-south": "up" });
    expect(s.engine.status("web")?.state).toBe("up");
    s.round("web", { "eu-west": "degraded", "us-east": "degraded", "ap-south": "up" });
    expect(s.engine.status("web")?.state).toBe("degraded");
    s.round("web", all(R3, "up"));
    expect(s.of("check.degraded")).toHaveLength(1);
    expect(s.of("check.recovered")).toHaveLength(1);
  });

  it("quorum 'any', 'all' and a number", () => {
    const any = sim([{ checkId: "web", regions: [...R3], quorum: "any" }]);
    for (let k = 0; k < 2; k++) any.round("web", { "eu-west": "down", "us-east": "up", "ap-south": "up" });
    expect(any.engine.status("web")?.state).toBe("down");
    const allQ = sim([{ checkId: "web", regions: [...R3], quorum: "all" }]);
    for (let k = 0; k < 2; k++) allQ.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up" });
    expect(allQ.engine.status("web")?.state).toBe("partial");
    const two = sim([{ checkId: "web", regions: [...R4], quorum: 2 }]);
    for (let k = 0; k < 2; k++)
      two.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up", "sa-east": "up" });
    expect(two.engine.status("web")?.state).toBe("down");
  });

  it("a check with no fixed regions counts every region that reports", () => {
    const s = sim([{ checkId: "web" }]);
    for (let k = 0; k < 2; k++) s.round("web", { a: "down", b: "down", c: "up" });
    expect(s.engine.status("web")?.state).toBe("down");
    expect(Object.keys(s.engine.status("web")!.regions).sort()).toEqual(["a", "b", "c"]);
  });

  it("warm-up after a restart adopts a stored open outage instead of opening a new one", () => {
    const before = sim([{ checkId: "web", regions: [...R3] }]);
    const results: Parameters<typeof before.engine.observe>[0][] = [];
    const record = (region: string, state: "up" | "down"): void => {
      results.push({
        checkId: "web",
        agentId: `agent-${region}`,
        region,
        startedAt: before.clock(),
        durationMs: 5,
        state,
        reason: state === "down" ? "connect" : "",
        canary: false,
      });
      before.engine.observe(results.at(-1)!);
      before.setClock(before.clock() + 10);
    };
    for (let k = 0; k < 3; k++) {
      for (const r of R3) record(r, "down");
      before.setClock(before.clock() + INTERVAL);
    }
    const open = before.engine.openIncidents();
    const stored = open.find((o) => o.kind === "outage")!;
    expect(stored).toBeDefined();

    // "Restart": a new engine on the same clock gets the stored incidents and the recent results.
    const after = sim([{ checkId: "web", regions: [...R3] }], {}, before.clock());
    const ts = after.engine.warmUp({ results, openIncidents: open });
    expect(ts.filter((t) => t.type.endsWith(".opened") || t.type.endsWith(".resolved"))).toEqual([]);
    expect(after.engine.status("web")).toMatchObject({
      state: "down",
      outage: { id: stored.id, startedAt: stored.startedAt },
    });
    // It then resolves the very same outage.
    for (let k = 0; k < 2; k++) after.round("web", all(R3, "up"));
    expect(after.of("outage.resolved")[0]?.outage.id).toBe(stored.id);

    // If the target recovered while the control plane was away, warm-up resolves it at once.
    const healed = sim([{ checkId: "web", regions: [...R3] }], {}, before.clock() + 3 * INTERVAL);
    const ups = R3.flatMap((region, i) =>
      [1, 2].map((k) => ({
        checkId: "web",
        agentId: `agent-${region}`,
        region,
        startedAt: before.clock() + k * INTERVAL + i,
        durationMs: 5,
        state: "up" as const,
        reason: "",
        canary: false,
      })),
    );
    const ts2 = healed.engine.warmUp({ results: [...results, ...ups], openIncidents: open });
    expect(ts2.filter((t) => t.type === "outage.resolved").map((t) => ("outage" in t ? t.outage.id : ""))).toEqual([
      stored.id,
    ]);
    // Incidents of a check deleted meanwhile are abandoned rather than left open forever, and never
    // announced as a recovery nobody saw.
    const orphan = sim([]);
    const ts3 = orphan.engine.warmUp({ results: [], openIncidents: open });
    expect(ts3.filter((t) => t.type.endsWith(".resolved"))).toEqual([]);
    expect(ts3.filter((t) => t.type === "incident.abandoned")).toHaveLength(open.length);
  });

  it("warm-up of a check still degraded announces no second check.degraded; its recovery is announced", () => {
    const t0 = 1_000_000;
    const results = [0, 1, 2].flatMap((k) =>
      R3.map((region, i) => ({
        checkId: "web",
        agentId: `agent-${region}`,
        region,
        startedAt: t0 + k * INTERVAL + i,
        durationMs: 5,
        state: "degraded" as const,
        reason: "",
        canary: false,
      })),
    );
    const s = sim([{ checkId: "web", regions: [...R3] }], {}, t0 + 3 * INTERVAL);
    const ts = s.engine.warmUp({ results, openIncidents: [] });
    expect(s.engine.status("web")?.state).toBe("degraded");
    expect(ts.filter((t) => t.type === "check.degraded")).toEqual([]);
    s.round("web", all(R3, "up"));
    expect(s.of("check.recovered")).toHaveLength(1);
  });

  it("staleness is decided at each deadline, independent of tick cadence", () => {
    const run = (tickEvery: number): string[] => {
      const s = sim([{ checkId: "web", regions: [...R3] }]);
      for (let k = 0; k < 3; k++) s.round("web", all(R3, "down"));
      const end = s.clock() + 10 * INTERVAL;
      for (let t = s.clock(); t <= end; t += tickEvery) s.tick(t);
      s.tick(end);
      return s.transitions.map((t) => `${t.type}@${t.at}`);
    };
    expect(run(1_000)).toEqual(run(37_000));
  });
});
