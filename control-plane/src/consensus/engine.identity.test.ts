import { describe, expect, it } from "vitest";
import { sim } from "./simulation.js";
import type { Outage } from "./types.js";

const R3 = ["r0", "r1", "r2"];
const down = { state: "down" as const, reason: "connect" };
const all = (report: "up" | typeof down) => Object.fromEntries(R3.map((r) => [r, report]));

describe("engine: a check's identity", () => {
  it("a new uid under the same id is a new check: the old one's incident is abandoned, its state forgotten", () => {
    const s = sim([{ checkId: "web", checkUid: "u1", regions: R3 }]);
    for (let k = 0; k < 2; k++) s.round("web", all(down));
    const outage = s.engine.status("web")?.outage;
    expect(outage).toMatchObject({ kind: "outage", state: "open", checkUid: "u1" });

    const ts = s.engine.upsertCheck({ checkId: "web", checkUid: "u2", regions: R3 });
    expect(ts.map((t) => t.type)).toEqual([
      "incident.abandoned",
      "incident.abandoned",
      "incident.abandoned",
      "incident.abandoned",
    ]);
    expect(ts.find((t) => "outage" in t && t.outage.id === outage!.id)).toMatchObject({ cause: "check.deleted" });
    expect(s.engine.status("web")).toMatchObject({ state: "unknown", outage: null });
    expect(s.engine.policy("web")?.checkUid).toBe("u2");
  });

  it("an edit that does not name the uid keeps it (no reset)", () => {
    const s = sim([{ checkId: "web", checkUid: "u1", regions: R3 }]);
    for (let k = 0; k < 2; k++) s.round("web", all(down));
    expect(s.engine.upsertCheck({ checkId: "web", regions: R3, failureThreshold: 3 })).toEqual([]);
    expect(s.engine.status("web")?.outage?.state).toBe("open");
    expect(s.engine.policy("web")?.checkUid).toBe("u1");
  });

  it("ignores results attributed to another uid of the id", () => {
    const s = sim([{ checkId: "web", checkUid: "u2", regions: R3 }]);
    for (let k = 0; k < 3; k++)
      for (const region of R3) s.observe({ checkId: "web", checkUid: "u1", region, state: "down", reason: "connect" });
    expect(s.engine.stats().ignoredOtherUid).toBe(9);
    expect(s.engine.status("web")?.state).toBe("unknown");
  });

  it("at warm-up, a stored open incident of another uid is abandoned, never adopted", () => {
    const s = sim([{ checkId: "web", checkUid: "u2", regions: R3 }]);
    const stored: Outage = {
      id: "outage:web:1",
      checkId: "web",
      checkUid: "u1",
      kind: "outage",
      state: "open",
      startedAt: 1,
      confirmedAt: 1,
      resolvedAt: null,
      regions: R3,
      reason: "connect",
    };
    const ts = s.engine.warmUp({ results: [], openIncidents: [stored] });
    expect(ts).toEqual([expect.objectContaining({ type: "incident.abandoned", cause: "check.deleted" })]);
    expect(s.engine.status("web")?.outage).toBeNull();
  });
});

describe("engine: dependencies", () => {
  const checks = [
    { checkId: "db", regions: R3 },
    { checkId: "app", regions: R3, dependsOn: ["db"] },
  ];

  it("marks an incident that opens while a dependency has an open outage; status names the dependency", () => {
    const s = sim(checks);
    for (let k = 0; k < 2; k++) s.round("db", all(down));
    expect(s.engine.status("db")?.outage?.kind).toBe("outage");
    expect(s.engine.status("app")?.suppressedBy).toEqual(["db"]);
    for (let k = 0; k < 2; k++) s.round("app", all(down));
    const opened = s.of("outage.opened").find((t) => t.checkId === "app");
    expect(opened?.outage.suppressedBy).toEqual(["db"]);
    expect(s.engine.status("app")?.outage?.suppressedBy).toEqual(["db"]);
    // db recovers: the incident keeps its mark (history), the status no longer names db.
    for (let k = 0; k < 2; k++) s.round("db", all("up"));
    expect(s.engine.status("app")?.suppressedBy).toBeUndefined();
    expect(s.engine.status("app")?.outage?.suppressedBy).toEqual(["db"]);
    for (let k = 0; k < 2; k++) s.round("app", all("up"));
    expect(s.of("outage.resolved").find((t) => t.checkId === "app")?.outage.suppressedBy).toEqual(["db"]);
  });

  it("leaves incidents alone when no dependency is down, and a partial dependency does not suppress", () => {
    const s = sim(checks);
    s.round("db", { r0: down, r1: "up", r2: "up" });
    for (let k = 0; k < 2; k++) s.round("app", all(down));
    const opened = s.of("outage.opened").find((t) => t.checkId === "app");
    expect(opened?.outage.suppressedBy).toBeUndefined();
    expect(s.engine.status("app")?.suppressedBy).toBeUndefined();
  });
});
