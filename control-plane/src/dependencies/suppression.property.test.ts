// The engine and the dependency gate together, as main.ts wires them: whatever the dependency and
// the dependent check report, a suppressed incident's opening is never published while a
// dependency is down, and a suppressed incident's end is published only after its opening was.
import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { sim, type Report } from "../consensus/simulation.js";
import { hookEventsFromTransition } from "../hooks/from-transition.js";
import type { HookEvent } from "../hooks/types.js";
import { createDependencyGate } from "./hook-gate.js";

const log = pino({ level: "silent" });
const REGIONS = ["r0", "r1", "r2"];
const report: fc.Arbitrary<Report> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Report>("up") },
  { weight: 3, arbitrary: fc.constant<Report>({ state: "down", reason: "connect" }) },
  { weight: 1, arbitrary: fc.constant<Report>(null) },
);
const reports = fc.array(report, { minLength: 3, maxLength: 3 });

describe("dependency suppression (property)", () => {
  it("no announcement of a suppressed incident while its dependency is down", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(reports, reports), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 3 }),
        (rounds, appThreshold) => {
          const s = sim([
            { checkId: "db", regions: REGIONS, failureThreshold: 1, recoveryThreshold: 1 },
            { checkId: "app", regions: REGIONS, dependsOn: ["db"], failureThreshold: appThreshold },
          ]);
          const dbDown = () => s.engine.status("db")?.outage?.kind === "outage";
          const gate = createDependencyGate({
            incident: (id) => s.engine.status(id)?.outage,
            dependenciesDown: (id) => s.engine.status(id)?.suppressedBy ?? [],
            log,
          });
          const suppressed = new Set<string>();
          const announced = new Set<string>();
          const publish = (events: HookEvent[]) => {
            for (const e of events) {
              if (e.data.checkId !== "app" || e.data.outageId === undefined) continue;
              const id = e.data.outageId;
              if (e.type.endsWith(".opened")) {
                if (suppressed.has(id)) expect(dbDown(), `${e.id} published while db is down`).toBe(false);
                announced.add(id);
              } else if (suppressed.has(id)) {
                expect(announced.has(id), `${e.id} published before its opening`).toBe(true);
              }
            }
          };
          const feed = (checkId: string, r: Report[]) => {
            for (const t of s.round(checkId, Object.fromEntries(REGIONS.map((name, i) => [name, r[i] ?? null])))) {
              if ("outage" in t && t.outage.suppressedBy?.length) suppressed.add(t.outage.id);
              if ("checkId" in t)
                publish(gate.filter(hookEventsFromTransition(t, s.engine.status(t.checkId)), s.clock()));
            }
            publish(gate.release(s.clock()));
          };
          for (const [dbReports, appReports] of rounds) {
            feed("db", dbReports);
            feed("app", appReports);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
