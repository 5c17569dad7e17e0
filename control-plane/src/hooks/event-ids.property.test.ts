import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createConsensusEngine } from "../consensus/engine.js";
import type { Observation, Quorum, Transition } from "../consensus/types.js";
import { hookEventsFromTransition } from "./from-transition.js";

// Two replicas (or a replica and the one that takes over) judging the same results must announce
// the same transitions under the same ids, whatever batches the results came in and whenever they
// arrived: JetStream's dedupe window and the receivers' webhook-id only work on equal ids.

const INTERVAL = 10_000;
const TIMEOUT = 2_000;
const REGIONS = ["r0", "r1", "r2", "r3", "r4"];
const INCIDENT_TYPES = new Set<Transition["type"]>([
  "outage.opened",
  "outage.resolved",
  "partial.opened",
  "partial.resolved",
  "partial.absorbed",
]);

interface Scenario {
  regions: string[];
  agentsPerRegion: number;
  quorum: Quorum;
  failureThreshold: number;
  recoveryThreshold: number;
  /** Per round, per agent (region-major): down or not, start jitter and duration (ms). */
  rounds: { down: boolean; jitter: number; duration: number }[][];
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    n: fc.integer({ min: 1, max: 5 }),
    agentsPerRegion: fc.integer({ min: 1, max: 2 }),
    quorum: fc.constantFrom<Quorum>("majority", "any", "all", 2),
    failureThreshold: fc.integer({ min: 1, max: 3 }),
    recoveryThreshold: fc.integer({ min: 1, max: 3 }),
    // Each region is mostly healthy or mostly failing for a few rounds at a time.
    phases: fc.array(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), { minLength: 2, maxLength: 8 }),
    seed: fc.array(fc.record({ jitter: fc.nat({ max: 1_500 }), duration: fc.nat({ max: TIMEOUT }) }), {
      minLength: 400,
      maxLength: 400,
    }),
  })
  .map(({ n, agentsPerRegion, quorum, failureThreshold, recoveryThreshold, phases, seed }) => {
    const regions = REGIONS.slice(0, n);
    const rounds: Scenario["rounds"] = [];
    let k = 0;
    for (const phase of phases)
      for (let rep = 0; rep < 3; rep++)
        rounds.push(
          regions.flatMap((_, i) =>
            Array.from({ length: agentsPerRegion }, () => ({ down: phase[i] ?? false, ...seed[k++ % seed.length]! })),
          ),
        );
    return { regions, agentsPerRegion, quorum, failureThreshold, recoveryThreshold, rounds };
  });

/** The results of a scenario in the order they reach the stream (by completion time). */
function results(s: Scenario, checkUid: string): Observation[] {
  const list: Observation[] = [];
  s.rounds.forEach((round, k) =>
    round.forEach((r, a) => {
      const region = s.regions[Math.floor(a / s.agentsPerRegion)]!;
      list.push({
        checkId: "web",
        checkUid,
        agentId: `agent-${a}`,
        region,
        startedAt: 1_000_000 + k * INTERVAL + a * 7 + r.jitter,
        durationMs: r.duration,
        state: r.down ? "down" : "up",
        reason: r.down ? "connect" : "",
        canary: false,
      });
    }),
  );
  return list.sort((x, y) => x.startedAt + x.durationMs - (y.startedAt + y.durationMs));
}

/**
 * Feeds the results in batches as a pull consumer would: sizes cycle through `batches`, a batch
 * never waits more than `windowMs` for more results, and reaches the engine `delay` ms after its
 * last result completed. (A result held back longer than its check's staleness bound would change
 * what any engine can decide, not only when.)
 */
function decide(
  s: Scenario,
  checkUid: string,
  batches: number[],
  windowMs: number,
  delay: number,
  tickMs: number,
): string[] {
  let clock = 0;
  const engine = createConsensusEngine({
    now: () => clock,
    checks: [
      {
        checkId: "web",
        checkUid,
        regions: s.regions,
        quorum: s.quorum,
        failureThreshold: s.failureThreshold,
        recoveryThreshold: s.recoveryThreshold,
        intervalMs: INTERVAL,
        timeoutMs: TIMEOUT,
      },
    ],
  });
  const ids: string[] = [];
  const keep = (ts: Transition[]): void => {
    for (const t of ts)
      if (INCIDENT_TYPES.has(t.type)) {
        const status = engine.status("web");
        for (const e of hookEventsFromTransition(t, status)) ids.push(e.id);
      }
  };
  const stream = results(s, checkUid);
  let nextTick = 0;
  for (let i = 0, b = 0; i < stream.length; b++) {
    const first = stream[i]!;
    const batch = stream
      .slice(i, i + (batches[b % batches.length] ?? 1))
      .filter((r) => r.startedAt + r.durationMs <= first.startedAt + first.durationMs + windowMs);
    i += batch.length;
    const last = batch.at(-1)!;
    const at = last.startedAt + last.durationMs + delay;
    if (nextTick === 0) nextTick = at;
    for (; nextTick < at; nextTick += tickMs) {
      clock = nextTick;
      keep(engine.tick());
    }
    clock = at;
    keep(engine.observeMany(batch));
  }
  clock += 10 * INTERVAL;
  keep(engine.tick());
  return ids;
}

/** `ids` without the events of partials that `others` never announced and that ended absorbed. */
function withoutLonePartials(ids: string[], others: string[]): string[] {
  const incident = (id: string): string => id.slice(0, id.lastIndexOf(":"));
  const seen = new Set(others.map(incident));
  const absorbed = new Set(ids.filter((id) => id.endsWith(":partial.absorbed")).map(incident));
  return ids.filter((id) => seen.has(incident(id)) || !absorbed.has(incident(id)));
}

describe("event ids are the same on every replica", () => {
  it("property: two engines fed the same results in other batches, delays and tick cadences announce the same incident events under the same ids", () => {
    fc.assert(
      fc.property(
        scenario,
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 8 }),
        fc.nat({ max: 1_000 }),
        fc.nat({ max: 400 }),
        fc.integer({ min: 200, max: 3_000 }),
        (s, batches, windowMs, delay, tickMs) => {
          const uid = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9";
          const one = decide(s, uid, [1], 0, 0, 1_000);
          const other = decide(s, uid, batches, windowMs, delay, tickMs);
          // The partial hold runs on the deciding replica's clock: a partial that an outage absorbs
          // within moments of the hold's end may be announced by one replica only. Everything both
          // announce, and every outage, carries the same id.
          expect(withoutLonePartials(other, one)).toEqual(withoutLonePartials(one, other));
          expect(one.filter((id) => id.startsWith("outage:"))).toEqual(other.filter((id) => id.startsWith("outage:")));
          for (const id of one) expect(id).toMatch(/^(outage|partial):web:0f1e2d3c:\d+:[a-z.]+$/);
        },
      ),
      { numRuns: 120 },
    );
  });
});
