// A scripted mesh on an injected clock: rounds of results per region. Drives the engine in unit
// and property tests, and shows in a few lines how the engine is meant to be fed.
import { createConsensusEngine, type ConsensusEngine, type ConsensusEngineOptions } from "./engine.js";
import type { CheckPolicy, Observation, ProbeStateName, Transition } from "./types.js";

/** A region's report in one round: a state, a state with a reason, or null for silence. */
export type Report = ProbeStateName | { state: ProbeStateName; reason?: string; agentId?: string } | null;

/** A scripted mesh: `round()` makes every named region report once, 10 ms apart, then moves the clock on. */
export interface Sim {
  engine: ConsensusEngine;
  readonly transitions: Transition[];
  clock(): number;
  setClock(t: number): void;
  /** One result per region given (null = silent), then the clock jumps to the next round. */
  round(checkId: string, reports: Record<string, Report>): Transition[];
  /** The same round for several checks within one interval (as an agent running them all would). */
  roundMany(checkIds: readonly string[], reports: Record<string, Report>): Transition[];
  /** One raw result at the current clock. */
  observe(o: Partial<Observation> & { checkId: string; region: string }): Transition[];
  tick(t?: number): Transition[];
  of<T extends Transition["type"]>(type: T): TransitionOf<T>[];
}

/** The member of Transition whose `type` can be T (distributes over the union). */
export type TransitionOf<T extends Transition["type"], X = Transition> = X extends { type: infer U }
  ? T extends U
    ? X
    : never
  : never;

export const INTERVAL = 10_000;

/** Creates a simulation with the given checks (interval 10 s, timeout 2 s unless said otherwise). */
export function sim(
  checks: (Partial<CheckPolicy> & { checkId: string })[],
  options: Partial<ConsensusEngineOptions> = {},
  start = 1_000_000,
): Sim {
  let clock = start;
  const transitions: Transition[] = [];
  const engine = createConsensusEngine({
    now: () => clock,
    checks: checks.map((c) => ({ intervalMs: INTERVAL, timeoutMs: 2_000, ...c })),
    ...options,
  });
  const keep = (ts: Transition[]): Transition[] => {
    transitions.push(...ts);
    return ts;
  };
  return {
    engine,
    transitions,
    clock: () => clock,
    setClock: (t) => {
      clock = t;
    },
    round(checkId, reports) {
      return this.roundMany([checkId], reports);
    },
    roundMany(checkIds, reports) {
      const out: Transition[] = [];
      const interval = engine.policy(checkIds[0] ?? "")?.intervalMs ?? INTERVAL;
      const roundStart = clock;
      let offset = 0;
      for (const checkId of checkIds)
        for (const [region, report] of Object.entries(reports)) {
          offset += 10;
          if (report === null) continue;
          const r = typeof report === "string" ? { state: report } : report;
          const startedAt = roundStart + offset;
          clock = startedAt + 5;
          out.push(
            ...keep(
              engine.observe({
                checkId,
                agentId: r.agentId ?? `agent-${region}`,
                region,
                startedAt,
                durationMs: 5,
                state: r.state,
                reason: r.state === "down" ? (r.reason ?? "connect") : "",
                canary: engine.policy(checkId)?.canary ?? false,
              }),
            ),
          );
        }
      clock = roundStart + interval;
      out.push(...keep(engine.tick(clock)));
      return out;
    },
    observe(o) {
      const ts = engine.observe({
        agentId: `agent-${o.region}`,
        startedAt: clock,
        durationMs: 5,
        state: "up",
        reason: "",
        canary: false,
        ...o,
      });
      return keep(ts);
    },
    tick(t) {
      if (t !== undefined) clock = t;
      return keep(engine.tick(clock));
    },
    of(type) {
      return transitions.filter((t) => t.type === type) as never;
    },
  };
}

/** Every region reporting the same state. */
export function all(regions: readonly string[], state: ProbeStateName): Record<string, Report> {
  return Object.fromEntries(regions.map((r) => [r, state]));
}
