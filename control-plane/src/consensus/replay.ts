import { createConsensusEngine } from "./engine.js";
import type { ImpairmentOptions } from "./impairment.js";
import { normalizePolicy } from "./policy.js";
import type { CheckPolicy, GlobalState, Observation, Outage } from "./types.js";

/** Window and options of a replay. */
export interface ReplayOptions {
  /** Epoch ms; incidents that ended before it are left out (results before it still warm the engine up). */
  from: number;
  /** Epoch ms, exclusive; results from then on are ignored and the clock stops there. */
  to: number;
  impairment?: ImpairmentOptions;
}

/** What a policy would have declared over the replayed results. */
export interface ReplayResult {
  policy: CheckPolicy;
  /** Results fed to the engine. */
  results: number;
  /** Incidents overlapping [from, to), oldest first; those still open at `to` have state "open". */
  outages: Outage[];
  /** Number of global state changes. */
  stateChanges: number;
  /** Global state at `to`. */
  finalState: GlobalState;
}

/**
 * Re-runs stored results of one check through a fresh engine with the given policy. Deterministic:
 * the clock is each result's completion time (start + duration), then `to`. Impairment needs the
 * agents' other checks, which a one-check replay does not see, so every agent votes here.
 */
export function replay(
  results: Iterable<Observation>,
  policyInput: Partial<CheckPolicy> & { checkId: string },
  options: ReplayOptions,
): ReplayResult {
  const policy = normalizePolicy(policyInput);
  let clock = -Infinity;
  const engine = createConsensusEngine({ now: () => clock, checks: [policy], impairment: options.impairment });
  const byId = new Map<string, Outage>();
  let stateChanges = 0;
  let fed = 0;
  const sorted = [...results]
    .filter((r) => r.checkId === policy.checkId && r.startedAt < options.to)
    .sort((a, b) => a.startedAt - b.startedAt);
  const record = (ts: ReturnType<typeof engine.observe>): void => {
    for (const t of ts) {
      if (t.type === "check.state") stateChanges++;
      if ("outage" in t) byId.set(t.outage.id, t.outage);
    }
  };
  for (const r of sorted) {
    const done = r.startedAt + Math.max(0, Number.isFinite(r.durationMs) ? r.durationMs : 0);
    clock = Math.max(clock, Math.min(done, options.to));
    record(engine.tick(clock));
    const before = engine.stats().observed;
    record(engine.observe(r));
    fed += engine.stats().observed - before;
  }
  clock = Math.max(clock, options.to);
  record(engine.tick(clock));
  const outages = [...byId.values()]
    .filter((o) => o.startedAt < options.to && (o.resolvedAt === null || o.resolvedAt >= options.from))
    .sort((a, b) => a.startedAt - b.startedAt || a.confirmedAt - b.confirmedAt || (a.id < b.id ? -1 : 1));
  return { policy, results: fed, outages, stateChanges, finalState: engine.status(policy.checkId)?.state ?? "unknown" };
}
