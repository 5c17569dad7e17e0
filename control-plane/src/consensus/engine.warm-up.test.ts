import { describe, expect, it } from "vitest";
import { INTERVAL, all, sim } from "./simulation.js";
import type { Observation, Outage, Transition } from "./types.js";

const R3 = ["r0", "r1", "r2"];
const R5 = ["r0", "r1", "r2", "r3", "r4"];
const UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const T0 = 1_000_000;

/** One result per region per round, 10 ms apart, rounds INTERVAL apart from `start`. */
function rounds(regions: readonly string[], states: ("up" | "down")[], start = T0, skip: string[] = []): Observation[] {
  return states.flatMap((state, k) =>
    regions
      .filter((r) => !skip.includes(r))
      .map((region, i) => ({
        checkId: "web",
        checkUid: UID,
        agentId: `agent-${region}`,
        region,
        startedAt: start + k * INTERVAL + i * 10,
        durationMs: 5,
        state,
        reason: state === "down" ? "connect" : "",
        canary: false,
      })),
  );
}

/** Runs results through a fresh engine whose clock follows them; returns it and what it emitted. */
function live(regions: readonly string[], results: Observation[], clockSkew = 0) {
  const s = sim([{ checkId: "web", checkUid: UID, regions }], {}, T0);
  const out: Transition[] = [];
  for (const r of results) {
    s.setClock(r.startedAt + r.durationMs + clockSkew);
    out.push(...s.engine.observe(r));
  }
  return { s, out };
}

const ends = (ts: Transition[]) => ts.filter((t) => t.type.endsWith(".resolved")).map((t) => t.type);

describe("engine: incident ids come from data", () => {
  it("names an incident after the check uid and its first failing result, not the deciding clock", () => {
    const results = rounds(R3, ["up", "down", "down", "down"]);
    const a = live(R3, results);
    const b = live(R3, results, 4_321); // another replica, later clock
    const opened = a.out.find((t) => t.type === "outage.opened");
    expect(opened && "outage" in opened ? opened.outage : undefined).toMatchObject({
      id: `outage:web:${UID.slice(0, 8)}:${T0 + INTERVAL}`,
      startedAt: T0 + INTERVAL,
    });
    const ids = (ts: Transition[]) => ts.flatMap((t) => ("outage" in t ? [`${t.type} ${t.outage.id}`] : []));
    expect(ids(b.out)).toEqual(ids(a.out));
    // confirmedAt stays the deciding replica's time.
    const other = b.out.find((t) => t.type === "outage.opened");
    expect(other && "outage" in other ? other.outage.confirmedAt : 0).toBe(
      opened && "outage" in opened ? opened.outage.confirmedAt + 4_321 : -1,
    );
  });

  it("a check without uid (created before uids) is named by its id alone", () => {
    const s = sim([{ checkId: "web", regions: R3 }], {}, T0);
    for (let k = 0; k < 2; k++) s.round("web", all(R3, "down"));
    expect(s.of("outage.opened")[0]?.outage.id).toBe(`outage:web:${T0 + 10}`);
  });

  it("an outage that falls back to a partial and forms again over the same failing streak gets a new id", () => {
    const s = sim([{ checkId: "web", checkUid: UID, regions: R3 }], {}, T0);
    for (let k = 0; k < 2; k++) s.round("web", { r0: "down", r1: "down", r2: "up" });
    const edits: Transition[] = [];
    edits.push(...s.engine.upsertCheck({ checkId: "web", regions: R3, quorum: "all" })); // outage → partial
    for (let k = 0; k < 2; k++) s.round("web", { r0: "down", r1: "down", r2: "up" });
    edits.push(...s.engine.upsertCheck({ checkId: "web", regions: R3, quorum: "majority" })); // outage again
    const outages = [...s.transitions, ...edits].flatMap((t) => (t.type === "outage.opened" ? [t.outage.id] : []));
    expect(outages).toHaveLength(2);
    expect(new Set(outages).size).toBe(2);
  });
});

describe("engine: warm-up keeps ids and never announces a recovery it did not see", () => {
  const history = rounds(R3, ["up", "down", "down", "down"]);

  it("a restart adopts the stored incident under its id; a takeover that never saw it stored names it the same", () => {
    const before = live(R3, history);
    const stored = before.s.engine.openIncidents().find((o) => o.kind === "outage")!;
    const at = before.s.clock() + 2_000;

    const restarted = sim([{ checkId: "web", checkUid: UID, regions: R3 }], {}, at);
    expect(restarted.engine.warmUp({ results: history, openIncidents: before.s.engine.openIncidents() })).toEqual([]);
    expect(restarted.engine.status("web")?.outage?.id).toBe(stored.id);

    // The owner died before saving: the next one decides again from the same results, under the same id.
    const takeover = sim([{ checkId: "web", checkUid: UID, regions: R3 }], {}, at);
    const ts = takeover.engine.warmUp({ results: history, openIncidents: [] });
    const opened = ts.find((t) => t.type === "outage.opened");
    expect(opened && "outage" in opened ? opened.outage.id : undefined).toBe(stored.id);
  });

  it("stored history that lags behind the outage (older, healthy results) resolves nothing; the real recovery does, once", () => {
    const before = live(R3, history);
    const open = before.s.engine.openIncidents();
    // Only the healthy round before the outage reached storage; it is still fresh at restart.
    const lagging = history.filter((r) => r.startedAt < T0 + INTERVAL);
    const s = sim([{ checkId: "web", checkUid: UID, regions: R3 }], {}, T0 + INTERVAL + 1_000);
    const ts = s.engine.warmUp({ results: lagging, openIncidents: open });
    expect(ends(ts)).toEqual([]);
    expect(s.engine.status("web")?.outage?.id).toBe(open.find((o) => o.kind === "outage")?.id);
    s.tick(s.clock() + 100);
    expect(ends(s.transitions)).toEqual([]);
    // The target recovers: announced once, for the stored incident.
    s.setClock(T0 + 5 * INTERVAL);
    for (let k = 0; k < 2; k++) s.round("web", all(R3, "up"));
    expect(s.of("outage.resolved").map((t) => t.outage.id)).toEqual([open.find((o) => o.kind === "outage")?.id]);
  });

  it("a region without fresh results at restart turns no outage into a partial (no outage.resolved)", () => {
    const five = rounds(R5, ["up", "down", "down", "down"]).map((r) =>
      r.region === "r3" || r.region === "r4" ? { ...r, state: "up" as const, reason: "" } : r,
    );
    const before = live(R5, five);
    const open = before.s.engine.openIncidents();
    expect(before.s.engine.status("web")?.state).toBe("down");
    // r2's rows are missing from storage: 2 down of 4 eligible is no majority.
    const s = sim([{ checkId: "web", checkUid: UID, regions: R5 }], {}, before.s.clock() + 1_000);
    const ts = s.engine.warmUp({ results: five.filter((r) => r.region !== "r2"), openIncidents: open });
    expect(s.engine.status("web")?.state).toBe("partial");
    expect(ends(ts)).toEqual([]);
    expect(s.engine.status("web")?.outage?.kind).toBe("outage");
  });

  it("two stored open outages of one check under different ids (two replicas, old ids): neither resolved at warm-up, both at recovery", () => {
    const before = live(R3, history);
    const outage = before.s.engine.openIncidents().find((o) => o.kind === "outage")!;
    const twin: Outage = { ...outage, id: `outage:web:${outage.confirmedAt + 7}`, confirmedAt: outage.confirmedAt + 7 };
    const s = sim([{ checkId: "web", checkUid: UID, regions: R3 }], {}, before.s.clock() + 1_000);
    const ts = s.engine.warmUp({ results: history, openIncidents: [twin, outage] });
    expect(ends(ts)).toEqual([]);
    expect(s.engine.openIncidents().filter((o) => o.kind === "outage")).toHaveLength(2);
    for (let k = 0; k < 2; k++) s.round("web", all(R3, "up"));
    expect(
      s
        .of("outage.resolved")
        .map((t) => t.outage.id)
        .sort(),
    ).toEqual([outage.id, twin.id].sort());
    expect(s.engine.openIncidents()).toEqual([]);
  });

  it("a stored partial beside a stored outage is absorbed by it, never resolved", () => {
    const before = live(R3, history);
    const outage = before.s.engine.openIncidents().find((o) => o.kind === "outage")!;
    const partial: Outage = { ...outage, id: `partial:web:${outage.startedAt}`, kind: "partial", regions: ["r0"] };
    const s = sim([{ checkId: "web", checkUid: UID, regions: R3 }], {}, before.s.clock() + 1_000);
    const ts = s.engine.warmUp({ results: history, openIncidents: [partial, outage] });
    expect(ends(ts)).toEqual([]);
    expect(ts.filter((t) => t.type === "partial.absorbed")).toMatchObject([
      { outage: { id: partial.id }, by: outage.id },
    ]);
    expect(s.engine.status("web")?.outage?.id).toBe(outage.id);
  });
});
