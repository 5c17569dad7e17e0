import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createConsensusEngine } from "./engine.js";
import { sim, type Report } from "./simulation.js";
import type { Quorum, Transition } from "./types.js";

const REGION_NAMES = ["r0", "r1", "r2", "r3", "r4", "r5", "r6"];

/** A region's report in one round: mostly results, sometimes silence. */
const anyReport: fc.Arbitrary<Report> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Report>("up") },
  { weight: 1, arbitrary: fc.constant<Report>("degraded") },
  {
    weight: 3,
    arbitrary: fc.constantFrom<Report>({ state: "down", reason: "connect" }, { state: "down", reason: "timeout" }),
  },
  { weight: 1, arbitrary: fc.constant<Report>(null) },
);
const healthyOrSilent: fc.Arbitrary<Report> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Report>("up", "degraded") },
  { weight: 1, arbitrary: fc.constant<Report>(null) },
);
const thresholds = fc.record({
  failureThreshold: fc.integer({ min: 1, max: 4 }),
  recoveryThreshold: fc.integer({ min: 1, max: 4 }),
});

describe("consensus engine properties", () => {
  it("under majority with 3+ regions, one region alone never makes the check down", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 7 }),
        fc.nat({ max: 6 }),
        thresholds,
        fc.array(fc.tuple(anyReport, fc.array(healthyOrSilent, { minLength: 7, maxLength: 7 })), {
          minLength: 1,
          maxLength: 60,
        }),
        (n, badIndex, th, rounds) => {
          const regions = REGION_NAMES.slice(0, n);
          const bad = regions[badIndex % n]!;
          const s = sim([{ checkId: "web", regions, quorum: "majority", ...th }]);
          for (const [badReport, others] of rounds) {
            const reports: Record<string, Report> = {};
            regions.forEach((r, i) => (reports[r] = r === bad ? badReport : (others[i] ?? "up")));
            s.round("web", reports);
          }
          expect(s.of("check.state").some((t) => t.to === "down")).toBe(false);
          expect(s.of("outage.opened")).toEqual([]);
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });

  it("every opened outage or partial is resolved once all regions succeed", () => {
    const quorum: fc.Arbitrary<Quorum> = fc.oneof(
      fc.constantFrom<Quorum>("majority", "all", "any"),
      fc.integer({ min: 1, max: 4 }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        quorum,
        thresholds,
        fc.array(fc.array(anyReport, { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 60 }),
        (n, q, th, rounds) => {
          const regions = REGION_NAMES.slice(0, n);
          const s = sim([{ checkId: "web", regions, quorum: q, ...th }]);
          for (const reports of rounds)
            s.round("web", Object.fromEntries(regions.map((r, i) => [r, reports[i] ?? null])));
          for (let k = 0; k < th.recoveryThreshold; k++)
            s.round("web", Object.fromEntries(regions.map((r) => [r, "up"])));
          const openedIds = s.transitions.flatMap((t) =>
            t.type.endsWith(".opened") && "outage" in t ? [t.outage.id] : [],
          );
          // An announced partial ends either resolved or absorbed by the outage that grew from it.
          const resolvedIds = s.transitions.flatMap((t) =>
            (t.type.endsWith(".resolved") || t.type === "partial.absorbed") && "outage" in t ? [t.outage.id] : [],
          );
          expect(new Set(resolvedIds)).toEqual(new Set(openedIds));
          expect(resolvedIds).toHaveLength(openedIds.length);
          expect(s.engine.openIncidents()).toEqual([]);
          // "up" unless the quorum can never be met with this many regions.
          const decidable = typeof q !== "number" || q <= n;
          expect(s.engine.status("web")?.state).toBe(decidable ? "up" : "unknown");
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });

  it("one incident, one announcement: every opened incident names regions that are down; no partial.resolved + outage.opened pair", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        thresholds,
        fc.array(fc.array(anyReport, { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 60 }),
        (n, th, rounds) => {
          const regions = REGION_NAMES.slice(0, n);
          const s = sim([{ checkId: "web", regions, ...th }]);
          for (const reports of rounds)
            s.round("web", Object.fromEntries(regions.map((r, i) => [r, reports[i] ?? null])));
          const regionState = new Map<string, string>();
          let lastPartialResolvedAt = NaN;
          for (const t of s.transitions) {
            if (t.type === "region.state") regionState.set(t.region, t.to);
            if (t.type === "partial.resolved") lastPartialResolvedAt = t.at;
            if (t.type === "outage.opened" || t.type === "partial.opened") {
              expect(t.outage.regions.length).toBeGreaterThan(0);
              for (const r of t.outage.regions) expect(regionState.get(r)).toBe("down");
              expect(t.outage.confirmedAt).toBeGreaterThanOrEqual(t.outage.startedAt);
            }
            if (t.type === "outage.opened") expect(lastPartialResolvedAt).not.toBe(t.at);
            if (t.type === "partial.resolved" || t.type === "outage.resolved")
              expect(t.outage.resolvedAt).toBeGreaterThan(t.outage.confirmedAt);
          }
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });

  it("results that are prober errors (internal, capability) never open anything", () => {
    const errorOrSilence = fc.constantFrom<Report>(
      { state: "down", reason: "internal" },
      { state: "down", reason: "capability" },
      null,
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        thresholds,
        fc.array(fc.array(errorOrSilence, { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 30 }),
        (n, th, rounds) => {
          const regions = REGION_NAMES.slice(0, n);
          const s = sim([{ checkId: "web", regions, ...th }]);
          for (const reports of rounds)
            s.round("web", Object.fromEntries(regions.map((r, i) => [r, reports[i] ?? null])));
          expect(s.transitions.filter((t) => t.type.endsWith(".opened"))).toEqual([]);
          expect(["unknown"]).toContain(s.engine.status("web")?.state);
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) },
    );
  });

  it("is deterministic: the same results give the same transitions, whatever the tick cadence", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        thresholds,
        fc.array(fc.array(anyReport, { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 500, max: 60_000 }),
        (n, th, rounds, cadence) => {
          const regions = REGION_NAMES.slice(0, n);
          const run = (tickEvery: number | null): string[] => {
            let clock = 0;
            const engine = createConsensusEngine({
              now: () => clock,
              checks: [{ checkId: "web", regions, intervalMs: 10_000, timeoutMs: 2_000, ...th }],
            });
            const out: string[] = [];
            const keep = (ts: Transition[]): void => void out.push(...ts.map((t) => JSON.stringify(t)));
            let nextTick = tickEvery ?? Infinity;
            rounds.forEach((reports, k) => {
              regions.forEach((region, i) => {
                const r = reports[i];
                if (r === null || r === undefined) return;
                const startedAt = k * 10_000 + i * 10;
                for (; nextTick < startedAt + 5; nextTick += tickEvery ?? Infinity) {
                  clock = nextTick;
                  keep(engine.tick());
                }
                clock = startedAt + 5;
                const state = typeof r === "string" ? r : r.state;
                keep(
                  engine.observe({
                    checkId: "web",
                    agentId: `a-${region}`,
                    region,
                    startedAt,
                    durationMs: 5,
                    state,
                    reason: typeof r === "string" ? "" : (r.reason ?? ""),
                    canary: false,
                  }),
                );
              });
            });
            clock = rounds.length * 10_000 + 100_000;
            keep(engine.tick());
            return out;
          };
          expect(run(cadence)).toEqual(run(null));
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });
});
