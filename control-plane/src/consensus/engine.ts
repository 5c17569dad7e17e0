import { isProberError } from "@probemesh/proto";
import {
  abstainReason,
  abstains,
  impairmentRules,
  judgeAgent,
  newAgentRecord,
  type AgentRecord,
  type ImpairmentOptions,
} from "./impairment.js";
import { normalizePolicy, partialHoldMs, staleAfterMs } from "./policy.js";
import { decideGlobal, minEligible } from "./quorum.js";
import type {
  AgentHealth,
  CheckPolicy,
  CheckStatus,
  GlobalState,
  IncidentKind,
  Observation,
  Outage,
  RegionState,
  RegionStatus,
  ErrorEndCause,
  Transition,
} from "./types.js";

/** Dependencies and options of the consensus engine. */
export interface ConsensusEngineOptions {
  /** The engine's clock (epoch ms); replay drives it from the results' times. */
  now: () => number;
  /** Checks known at start. */
  checks?: Iterable<Partial<CheckPolicy> & { checkId: string }>;
  /** Asked for the policy of a check the engine has not seen yet; results of unknown checks are ignored without it. */
  policyFor?: (checkId: string) => (Partial<CheckPolicy> & { checkId: string }) | undefined;
  /** Thresholds of correlated-failure impairment. */
  impairment?: ImpairmentOptions;
  /** Called with every transition, in order, besides returning them. */
  onTransition?: (t: Transition) => void;
  /**
   * Results starting further than this ahead of the engine's clock are ignored (agent clock wrong):
   * accepted, one would keep its view fresh, and every later result "out of order", until then.
   * @default 60000
   */
  maxFutureMs?: number;
  /**
   * Whether `agentId` may vote for `region` (enrolled, not revoked, enrolled for that region). A result
   * it refuses is ignored before it can add a region, an agent or a view: what a message says never
   * grows the engine. Without it every result votes (replay of trusted history, simulations).
   */
  mayVote?: (agentId: string, region: string) => boolean;
  /**
   * Whether a check this engine does not hold has an open outage: dependencies (`dependsOn`) decided
   * by another engine (another partition). Without it such a dependency counts as up.
   */
  outageElsewhere?: (checkId: string) => boolean;
}

/** Counters of what the engine did, for metrics and tests. */
export interface ConsensusStats {
  checks: number;
  agents: number;
  /** (check, agent) views held in memory. */
  views: number;
  observed: number;
  ignoredUnknownCheck: number;
  ignoredOtherRegion: number;
  /** Results of an agent that may not vote for their region (`mayVote` said no). */
  ignoredNotVoter: number;
  /** Duplicates and results older than the agent's newest for that check. */
  ignoredOutOfOrder: number;
  ignoredInvalid: number;
  /** Results dated beyond `maxFutureMs` ahead of the clock. */
  ignoredFuture: number;
  /** Results of a config version older than the check's `sinceVersion`, or started before the check existed. */
  ignoredOldVersion: number;
  /** Results attributed to another uid of the check id (a deleted check of the same id). */
  ignoredOtherUid: number;
  transitions: number;
}

/** Open incidents and recent results to rebuild state after a restart. */
export interface WarmUpInput {
  /**
   * Recent results in the stream's order, as live decisions took them (ids are keyed by results in
   * that order, so re-sorting could name an incident otherwise than its live owner did); the newest
   * few intervals per check are enough.
   */
  results: Iterable<Observation>;
  /** Incidents stored as open: they are adopted, not re-opened, when the state still says so. */
  openIncidents: Iterable<Outage>;
}

/** The cross-region consensus engine: pure logic, no I/O; every mutating call returns the transitions it caused. */
export interface ConsensusEngine {
  /**
   * Adds or edits a check; an edit re-applies thresholds, quorum and regions at once (even mid-outage).
   * With `replaced` (what the check probes changed: its target or type), its open incidents are
   * abandoned and every view starts afresh: evidence about the old target never votes on the new one.
   */
  upsertCheck(policy: Partial<CheckPolicy> & { checkId: string }, opts?: { replaced?: boolean }): Transition[];
  /** Forgets a check, abandoning its open incidents (a deletion is never a recovery). */
  removeCheck(checkId: string): Transition[];
  /**
   * Another partition judges the agent impaired (`reason`) or no longer does (null): its views abstain
   * here as if this engine had judged it, and failures seen meanwhile do not vote once it ends. The
   * judging engine announces the agent; this one emits no `agent.*` transition for it.
   */
  setExternalImpairment(agentId: string, reason: string | null): Transition[];
  /** Feeds one result. */
  observe(result: Observation): Transition[];
  /**
   * Withdraws every vote of an agent (it was revoked) and forgets it; regions only it voted in that
   * are not among a check's configured regions go too (their open region incidents are resolved).
   */
  removeAgent(agentId: string): Transition[];
  /**
   * Feeds several results in the order given: the stream's order (what ingest's `onStored` hands
   * over). Never re-sorted here: every replica reads the stream in the same order, so decisions, and
   * the ids they carry, do not depend on where batches happen to begin and end.
   */
  observeMany(results: Iterable<Observation>): Transition[];
  /** Applies staleness up to `now` (default: the clock); call it about every second. */
  tick(now?: number): Transition[];
  /** Rebuilds state after a restart: replays results silently, adopts open incidents, then reconciles. */
  warmUp(input: WarmUpInput): Transition[];
  /** Current view of one check, or undefined if the engine does not know it. */
  status(checkId: string): CheckStatus | undefined;
  /** Health of every agent the engine has seen. */
  agents(): AgentHealth[];
  /** Health of one agent. */
  agent(agentId: string): AgentHealth | undefined;
  /** Every open incident (outages, partials and region intervals). */
  openIncidents(): Outage[];
  /** The policy the engine uses for a check. */
  policy(checkId: string): CheckPolicy | undefined;
  stats(): ConsensusStats;
}

interface AgentEntry extends AgentRecord {
  views: Set<View>;
}

interface View {
  agentId: string;
  agent: AgentEntry;
  check: CheckView;
  region: RegionView;
  /** startedAt of the newest accepted result; -Infinity before the first. */
  last: number;
  state: RegionState;
  failures: number;
  successes: number;
  /** startedAt of the first failure of the current failing streak. */
  streakStart: number;
  /** streakStart of the streak that put this view into `down`. */
  downSince: number;
  lastReason: string;
  lastOkState: "up" | "degraded";
  lastOk: boolean | undefined;
  contradicted: boolean;
  /** The newest result was a prober error (the probe could not run): its message; "" otherwise. */
  error: string;
  /** startedAt of the result that put the view into `degraded` (NaN when it is not degraded). */
  degradedFrom: number;
  /** startedAt of the first prober error of the current run of them (NaN when the newest result is no prober error). */
  errorFrom: number;
}

interface RegionView {
  name: string;
  state: RegionState;
  since: number;
  impaired: boolean;
  impairedReason: string;
  downStartedAt: number;
  reason: string;
  /** A prober error message while the region is in `error`. */
  error: string;
  /** When it entered `degraded`: the earliest `degradedFrom` of its degraded voters then (result data). */
  degradedFrom: number;
  /** When it entered `error`: the earliest `errorFrom` of its erring agents then (result data). */
  errorFrom: number;
  views: Map<string, View>;
  okViews: number;
  incident: Outage | null;
  /** Slot bookkeeping of the region's incidents (see {@link Slot}). */
  slot: Slot;
}

/**
 * What an incident slot (a check's outage/partial, or one region's interval) remembers beside its
 * open incident, so ids stay data-derived and warm-up never closes what it has not seen recover.
 */
interface Slot {
  /**
   * Id key (epoch ms, from result data) of the newest incident (or `degraded`/`error` episode of the
   * check) opened per kind; -Infinity before the first.
   */
  lastKey: Record<KeyKind, number>;
  /**
   * The open incident was adopted at warm-up and no result newer than its start has shown a
   * recovery yet: it may not be resolved (the stored history may lag behind what decided it).
   */
  unseen: boolean;
}

/** What gets a data-derived id: an incident, or a check's `check.degraded` / `check.error` episode. */
type KeyKind = IncidentKind | "degraded" | "error";

function newSlot(): Slot {
  return {
    lastKey: { outage: -Infinity, partial: -Infinity, region: -Infinity, degraded: -Infinity, error: -Infinity },
    unseen: false,
  };
}

interface CheckView {
  policy: CheckPolicy;
  staleAfter: number;
  regions: Map<string, RegionView>;
  state: GlobalState;
  since: number;
  degradedOpen: boolean;
  /** Id of the open `check.degraded` episode (see {@link episodeId}), "" when none is open. */
  degradedEpisode: string;
  /**
   * When the open `check.error` episode was announced (its `at`), NaN when none is open. It stays
   * open through silence: only a region with a verdict again, a deletion or a replacement ends it.
   */
  errorSince: number;
  /** Id of the open `check.error` episode (see {@link episodeId}), "" when none is open. */
  errorEpisode: string;
  /** The message its `check.error` carried. */
  errorMessage: string;
  incident: Outage | null;
  nextStaleAt: number;
  okViews: number;
  /**
   * The newest completion (startedAt + duration) of the results this check has taken, in the
   * stream's order, never past this replica's clock: the clock a partial's hold runs on, the same on
   * every replica whatever its own clock and however its results were batched (results reach a
   * replica after they complete, unless their agent's clock runs ahead of it).
   */
  resultClock: number;
  /**
   * The {@link resultClock} at which the check last became `partial` with no partial announced yet
   * (NaN when not pending).
   */
  partialPendingSince: number;
  /**
   * Id key of the pending partial (see {@link nextKey}), taken when the check became partial, in the
   * stream's order, not when the hold ends (NaN when not pending), so that which regions are down
   * when the hold ends cannot change it. Taken whether it is announced or not.
   */
  partialPendingKey: number;
  /**
   * The first failure of the streaks of every region down while the check has been `partial`
   * (Infinity when it is not): the start of a partial, and of an outage that grows from it, whether
   * or not the partial was announced. Gathered at every evaluation in the stream's order, so it does
   * not depend on when this replica's hold ended.
   */
  partialFrom: number;
  /** Slot bookkeeping of the check's outage/partial (see {@link Slot}). */
  slot: Slot;
}

const STATES = new Set(["up", "degraded", "down"]);

/** A result whose failure is the prober's own (it could not run the check): it abstains. */
function proberError(o: Observation): boolean {
  return o.state === "down" && isProberError(o.reason);
}

/** Creates a consensus engine; see ConsensusEngine. */
export function createConsensusEngine(options: ConsensusEngineOptions): ConsensusEngine {
  const { now, policyFor, onTransition, mayVote } = options;
  const rules = impairmentRules(options.impairment);
  const maxFutureMs = options.maxFutureMs ?? 60_000;
  const checks = new Map<string, CheckView>();
  const agents = new Map<string, AgentEntry>();
  /** Agents other partitions judge impaired, and why (agents this engine has not seen yet included). */
  const external = new Map<string, string>();
  const stats: ConsensusStats = {
    checks: 0,
    agents: 0,
    views: 0,
    observed: 0,
    ignoredUnknownCheck: 0,
    ignoredOtherRegion: 0,
    ignoredNotVoter: 0,
    ignoredOutOfOrder: 0,
    ignoredInvalid: 0,
    ignoredFuture: 0,
    ignoredOldVersion: 0,
    ignoredOtherUid: 0,
    transitions: 0,
  };
  /** While warming up, state moves but nothing is emitted and no incident opens or closes. */
  let warming = false;
  /**
   * The replay's clock while warming up: each result is judged when it completed (never past the
   * warm-up's start, never backwards), as its live owner judged it, so episodes are keyed alike.
   */
  let replayClock = -Infinity;
  let replayUntil = Infinity;
  /**
   * Other open incidents stored for the slot of an open incident, by its id: two replicas decided
   * one outage under different ids (before ids were derived from data). Each ends with it, the same way.
   */
  const companions = new Map<string, Outage[]>();

  for (const p of options.checks ?? []) addCheck(normalizePolicy(p));

  function emit(out: Transition[], t: Transition): void {
    if (warming) return;
    out.push(t);
    if (companions.size === 0 || !("outage" in t) || t.outage.state === "open") return;
    // An incident that closes takes the companions stored beside it with it, the same way.
    const list = companions.get(t.outage.id);
    if (!list) return;
    companions.delete(t.outage.id);
    for (const c of list) {
      const done: Outage = { ...c, state: t.outage.state, resolvedAt: Math.max(t.at, c.confirmedAt) };
      out.push({ ...t, outage: done });
    }
  }

  function publish(out: Transition[]): Transition[] {
    stats.transitions += out.length;
    if (onTransition) for (const t of out) onTransition(t);
    return out;
  }

  function addCheck(policy: CheckPolicy): CheckView {
    const check: CheckView = {
      policy,
      staleAfter: staleAfterMs(policy),
      regions: new Map(),
      state: "unknown",
      since: 0,
      degradedOpen: false,
      degradedEpisode: "",
      errorSince: NaN,
      errorEpisode: "",
      errorMessage: "",
      incident: null,
      nextStaleAt: Infinity,
      okViews: 0,
      resultClock: -Infinity,
      partialPendingSince: NaN,
      partialPendingKey: NaN,
      partialFrom: Infinity,
      slot: newSlot(),
    };
    for (const r of policy.regions) check.regions.set(r, newRegion(r));
    checks.set(policy.checkId, check);
    stats.checks = checks.size;
    return check;
  }

  function newRegion(name: string): RegionView {
    return {
      name,
      state: "unknown",
      since: 0,
      impaired: false,
      impairedReason: "",
      downStartedAt: 0,
      reason: "",
      error: "",
      degradedFrom: NaN,
      errorFrom: NaN,
      views: new Map(),
      okViews: 0,
      incident: null,
      slot: newSlot(),
    };
  }

  function agentEntry(agentId: string, region: string): AgentEntry {
    let a = agents.get(agentId);
    if (!a) {
      a = { ...newAgentRecord(agentId, region), views: new Set() };
      a.external = external.get(agentId) ?? "";
      agents.set(agentId, a);
      stats.agents = agents.size;
    }
    a.region = region;
    return a;
  }

  function newView(check: CheckView, region: RegionView, agentId: string): View {
    const agent = agentEntry(agentId, region.name);
    const view: View = {
      agentId,
      agent,
      check,
      region,
      last: -Infinity,
      state: "unknown",
      failures: 0,
      successes: 0,
      streakStart: 0,
      downSince: 0,
      lastReason: "",
      lastOkState: "up",
      lastOk: undefined,
      contradicted: false,
      error: "",
      degradedFrom: NaN,
      errorFrom: NaN,
    };
    region.views.set(agentId, view);
    agent.views.add(view);
    attach(view);
    stats.views++;
    return view;
  }

  // Per-agent counters: attach/detach keep them exact when views appear, vanish or change kind.
  function attach(view: View): void {
    if (view.check.policy.canary) {
      if (view.state === "down") view.agent.canariesDown.set(view.check.policy.checkId, view.lastReason);
    } else {
      view.agent.checks++;
      if (view.contradicted) view.agent.contradicted++;
    }
  }

  function detach(view: View): void {
    if (view.check.policy.canary) view.agent.canariesDown.delete(view.check.policy.checkId);
    else {
      view.agent.checks--;
      if (view.contradicted) view.agent.contradicted--;
    }
  }

  function removeView(view: View, touched: Set<AgentEntry>): void {
    detach(view);
    if (view.lastOk === true) {
      view.region.okViews--;
      view.check.okViews--;
    }
    view.region.views.delete(view.agentId);
    view.agent.views.delete(view);
    touched.add(view.agent);
    stats.views--;
  }

  /** Sets a view's state; entering `degraded` keys it by its newest result (result data). */
  function enter(view: View, state: RegionState): void {
    if (state === "degraded" && view.state !== "degraded") view.degradedFrom = view.last;
    else if (state !== "degraded") view.degradedFrom = NaN;
    view.state = state;
  }

  /** Hysteresis of one (check, agent): N failures to enter down, M successes to leave it. */
  function applyThresholds(view: View): void {
    const { failureThreshold, recoveryThreshold } = view.check.policy;
    if (view.state === "down") {
      if (view.successes >= recoveryThreshold) enter(view, view.lastOkState);
    } else if (view.failures >= failureThreshold) {
      enter(view, "down");
      view.downSince = view.streakStart;
    }
  }

  function applyResult(view: View, o: Observation): void {
    view.last = o.startedAt;
    if (proberError(o)) {
      // Says nothing about the target: the view abstains, and its streaks neither grow nor break.
      if (view.error === "") view.errorFrom = o.startedAt;
      view.error = `${o.reason}${o.message ? `: ${o.message}` : ""}`.slice(0, 512);
      return;
    }
    view.error = "";
    view.errorFrom = NaN;
    if (o.state === "down") {
      if (view.failures === 0) view.streakStart = o.startedAt;
      view.failures++;
      view.successes = 0;
      view.lastReason = o.reason;
      applyThresholds(view);
    } else {
      view.successes++;
      view.failures = 0;
      view.lastOkState = o.state;
      // Leaving `down` needs M successes; any other state follows the newest success at once.
      if (view.state === "down") applyThresholds(view);
      else enter(view, o.state);
    }
  }

  function setCanary(view: View, touched: Set<AgentEntry>): void {
    if (!view.check.policy.canary) return;
    const id = view.check.policy.checkId;
    const down = view.state === "down";
    if (down !== view.agent.canariesDown.has(id) || (down && view.agent.canariesDown.get(id) !== view.lastReason)) {
      if (down) view.agent.canariesDown.set(id, view.lastReason);
      else view.agent.canariesDown.delete(id);
      touched.add(view.agent);
    }
  }

  /** Re-derives "fails here while another region sees it work" for every view of a check: O(agents of the check). */
  function recomputeContradictions(check: CheckView, touched: Set<AgentEntry>): void {
    const canary = check.policy.canary;
    for (const region of check.regions.values()) {
      const othersOk = check.okViews - region.okViews > 0;
      for (const v of region.views.values()) {
        const should = !canary && v.lastOk === false && othersOk;
        if (should !== v.contradicted) {
          v.contradicted = should;
          if (!canary) v.agent.contradicted += should ? 1 : -1;
          touched.add(v.agent);
        }
      }
    }
  }

  /**
   * The agent votes again: failures seen while it abstained say nothing about the targets, so a view
   * that is still failing must show N fresh failures before it votes down, instead of voting with
   * stale streaks.
   */
  function forgetAbstainedFailures(agent: AgentEntry): void {
    for (const v of agent.views) {
      v.failures = 0;
      if (v.state === "down") enter(v, v.lastOk ? v.lastOkState : "unknown");
    }
  }

  function judgeAgents(touched: Set<AgentEntry>, t: number, dirty: Set<CheckView>, out: Transition[]): void {
    for (const agent of touched) {
      const verdict = judgeAgent(agent, rules);
      if (verdict.impaired !== agent.impaired) {
        const abstained = abstains(agent);
        agent.impaired = verdict.impaired;
        agent.since = t;
        const reason = verdict.impaired ? verdict.reason : agent.reason;
        agent.reason = verdict.reason;
        emit(out, {
          type: verdict.impaired ? "agent.impaired" : "agent.recovered",
          agentId: agent.agentId,
          region: agent.region,
          at: t,
          reason,
        });
        if (abstained && !abstains(agent)) forgetAbstainedFailures(agent);
        for (const v of agent.views) dirty.add(v.check);
      } else {
        agent.reason = verdict.reason;
      }
    }
  }

  /**
   * The id of an incident opening in `slot`: from data only (the check's uid and the start of the
   * results that decided), never from this replica's clock, so every replica and every replay that
   * decides the same transition from the same results names it the same. `startedAt` is the
   * incident's start; when an incident of the same kind already opened in this slot with that start
   * or a later one (the failing streak outlived it: an outage that fell back to a partial and formed
   * again), the newest result behind the decision keys it instead, so a new incident never takes an
   * old one's id. A held partial takes its key when the check becomes partial ({@link
   * CheckView.partialPendingKey}), not when the hold ends.
   */
  function incidentId(
    kind: IncidentKind,
    check: CheckView,
    slot: Slot,
    startedAt: number,
    regions: readonly RegionView[],
  ): string {
    return formatId(kind, check, nextKey(kind, slot, startedAt, newestResult(regions)), regions[0]?.name ?? "");
  }

  /** The next id key of `kind` in `slot` (see {@link incidentId}), taken: later keys are larger. */
  function nextKey(kind: KeyKind, slot: Slot, startedAt: number, newest: number): number {
    let key = startedAt;
    const previous = slot.lastKey[kind];
    if (key <= previous) key = Math.max(previous + 1, newest);
    slot.lastKey[kind] = key;
    return key;
  }

  function formatId(kind: KeyKind, check: CheckView, key: number, region: string): string {
    const { checkId, checkUid } = check.policy;
    const owner = checkUid !== "" ? `${checkId}:${checkUid.slice(0, 8)}` : checkId;
    return kind === "region" ? `region:${owner}:${region}:${key}` : `${kind}:${owner}:${key}`;
  }

  /**
   * The id of a `check.degraded` or `check.error` episode opening now, from data like an incident's:
   * `${kind}:${checkId}:${uid8}:${key}`, keyed by the earliest `from` (the result that put a voter
   * into `degraded`, or the first of an agent's run of prober errors) of the regions in that state,
   * never past the previous episode's key (then the newest result of those regions keys it).
   */
  function episodeId(kind: "degraded" | "error", check: CheckView, regions: readonly RegionView[]): string {
    let from = Infinity;
    for (const r of regions) {
      const f = kind === "degraded" ? r.degradedFrom : r.errorFrom;
      if (f < from) from = f;
    }
    if (!Number.isFinite(from)) from = newestResult(regions);
    return formatId(kind, check, nextKey(kind, check.slot, from, newestResult(regions)), "");
  }

  /** startedAt of the newest result of `regions` (-Infinity before any). */
  function newestResult(regions: Iterable<RegionView>): number {
    let newest = -Infinity;
    for (const r of regions) for (const v of r.views.values()) if (v.last > newest) newest = v.last;
    return newest;
  }

  /** Most frequent reason; ties go to the alphabetically first so replays agree. */
  function dominant(reasons: Iterable<string>): string {
    const counts = new Map<string, number>();
    for (const r of reasons) if (r !== "") counts.set(r, (counts.get(r) ?? 0) + 1);
    let best = "";
    let bestN = 0;
    for (const [r, n] of counts) if (n > bestN || (n === bestN && r < best)) [best, bestN] = [r, n];
    return best;
  }

  /** Ends the check's open `check.error` episode, if any, with `check.error.resolved`. */
  function endError(check: CheckView, t: number, cause: ErrorEndCause, out: Transition[]): void {
    if (Number.isNaN(check.errorSince)) return;
    const since = check.errorSince;
    const episode = check.errorEpisode;
    check.errorSince = NaN;
    check.errorEpisode = "";
    emit(out, { type: "check.error.resolved", checkId: check.policy.checkId, at: t, since, episode, cause });
  }

  /** `{ checkUid }` of the check's incidents, or nothing for a check without uid (created before uids). */
  function uidOf(check: CheckView): { checkUid?: string } {
    return check.policy.checkUid !== "" ? { checkUid: check.policy.checkUid } : {};
  }

  /** The check's dependencies that have an open outage now, sorted. */
  function dependenciesDown(check: CheckView): string[] {
    const down: string[] = [];
    for (const id of check.policy.dependsOn) {
      const dependency = checks.get(id);
      if (dependency ? dependency.incident?.kind === "outage" : options.outageElsewhere?.(id)) down.push(id);
    }
    return down;
  }

  /** Closes every open incident of a check (and its regions) as abandoned. */
  function abandonAll(check: CheckView, t: number, cause: "check.deleted" | "check.replaced", out: Transition[]): void {
    const checkId = check.policy.checkId;
    const open = [...[...check.regions.values()].map((r) => r.incident), check.incident];
    for (const incident of open) {
      if (!incident) continue;
      const done: Outage = { ...resolved(incident, t, []), state: "abandoned" };
      emit(out, { type: "incident.abandoned", checkId, at: t, outage: done, cause });
    }
    for (const r of check.regions.values()) {
      r.incident = null;
      r.slot.unseen = false;
    }
    check.incident = null;
    check.slot.unseen = false;
    check.partialPendingSince = NaN;
    check.partialPendingKey = NaN;
    check.partialFrom = Infinity;
  }

  function resolved(incident: Outage, t: number, regions: Iterable<string>): Outage {
    return {
      ...incident,
      state: "resolved",
      resolvedAt: Math.max(t, incident.confirmedAt),
      regions: [...new Set([...incident.regions, ...regions])].sort(),
    };
  }

  /**
   * Takes a stored open incident back into its slot at warm-up. It stays open until a result newer
   * than its start shows a recovery ({@link recoverySeen}): warm-up never announces a recovery it did
   * not see. A second stored incident of the same slot is never resolved for being one too many: the
   * same id merges; an outage absorbs a partial (as it would live); one of the same kind under
   * another id (two replicas decided one outage before ids came from data) becomes a companion
   * that ends with the slot's incident.
   */
  function adopt(
    check: CheckView,
    owner: CheckView | RegionView,
    incident: Outage,
    t: number,
    out: Transition[],
  ): void {
    const stored: Outage = { ...incident, regions: [...incident.regions] };
    const slot = owner.slot;
    if (stored.startedAt > slot.lastKey[stored.kind]) slot.lastKey[stored.kind] = stored.startedAt;
    const current = owner.incident;
    if (!current) {
      owner.incident = stored;
      slot.unseen = true;
      return;
    }
    if (current.id === stored.id) {
      owner.incident = { ...current, regions: [...new Set([...current.regions, ...stored.regions])].sort() };
      return;
    }
    if (current.kind !== stored.kind) {
      const [outage, partial] = current.kind === "outage" ? [current, stored] : [stored, current];
      owner.incident = outage;
      const checkId = check.policy.checkId;
      // Companions of the partial go with it (emit closes them); the outage keeps its own.
      const absorbed: Outage = { ...partial, state: "resolved", resolvedAt: Math.max(t, partial.confirmedAt) };
      emit(out, { type: "partial.absorbed", checkId, at: t, outage: absorbed, by: outage.id });
      return;
    }
    // The earlier start holds the slot (it is what a replay of the results names).
    const [keep, other] = stored.startedAt < current.startedAt ? [stored, current] : [current, stored];
    owner.incident = keep;
    const list = [...(companions.get(other.id) ?? []), other, ...(companions.get(keep.id) ?? [])];
    companions.delete(other.id);
    companions.set(keep.id, list);
  }

  /**
   * Whether the results show the slot's open incident recovering: a region it names is up or
   * degraded on a fresh, voting result newer than the incident's start. Results older than that
   * never saw the incident (the stored history lagged behind what decided it).
   */
  function recoverySeen(check: CheckView, incident: Outage, t: number): boolean {
    for (const name of incident.regions) {
      const region = check.regions.get(name);
      if (!region || (region.state !== "up" && region.state !== "degraded")) continue;
      for (const v of region.views.values())
        if (
          v.last > incident.startedAt &&
          t < v.last + check.staleAfter &&
          !abstains(v.agent) &&
          v.error === "" &&
          (v.state === "up" || v.state === "degraded")
        )
          return true;
    }
    return false;
  }

  function evaluateRegion(check: CheckView, region: RegionView, t: number, out: Transition[]): number {
    let nextStale = Infinity;
    let voters = 0;
    let down = 0;
    let up = 0;
    let degraded = 0;
    let impairedFresh = 0;
    let impairedReason = "";
    let errorFresh = 0;
    let error = "";
    let minDown = Infinity;
    let minDegraded = Infinity;
    let minError = Infinity;
    for (const v of region.views.values()) {
      const deadline = v.last + check.staleAfter;
      if (t >= deadline) continue;
      if (deadline < nextStale) nextStale = deadline;
      if (abstains(v.agent)) {
        impairedFresh++;
        if (impairedReason === "") impairedReason = `agent ${v.agentId} impaired: ${abstainReason(v.agent)}`;
        continue;
      }
      if (v.error !== "") {
        errorFresh++;
        if (error === "") error = `agent ${v.agentId}: ${v.error}`;
        if (v.errorFrom < minError) minError = v.errorFrom;
        continue;
      }
      if (v.state === "unknown") continue;
      voters++;
      if (v.state === "down") {
        down++;
        if (v.downSince < minDown) minDown = v.downSince;
      } else if (v.state === "degraded") {
        degraded++;
        if (v.degradedFrom < minDegraded) minDegraded = v.degradedFrom;
      } else up++;
    }
    let state: RegionState;
    if (voters === 0) state = errorFresh > 0 && impairedFresh === 0 ? "error" : "unknown";
    else if (down * 2 > voters) state = "down";
    else if ((up + degraded) * 2 > voters) state = degraded > up ? "degraded" : "up";
    else state = "unknown"; // agents of one region disagree evenly: the region abstains
    region.impaired = voters === 0 && impairedFresh > 0;
    region.impairedReason = region.impaired ? impairedReason : "";
    region.error = state === "error" ? error : "";
    if (state === "down") {
      const reasons: string[] = [];
      for (const v of region.views.values())
        if (v.state === "down" && t < v.last + check.staleAfter) reasons.push(v.lastReason);
      region.reason = dominant(reasons);
    }
    if (state !== region.state) {
      const from = region.state;
      region.state = state;
      region.since = t;
      if (state === "down") region.downStartedAt = minDown;
      region.degradedFrom = state === "degraded" ? minDegraded : NaN;
      region.errorFrom = state === "error" ? minError : NaN;
      const why =
        state === "down"
          ? region.reason
          : state === "error"
            ? region.error
            : state !== "unknown"
              ? ""
              : region.impaired
                ? region.impairedReason
                : voters > 0
                  ? "agents disagree"
                  : "no fresh results";
      emit(out, {
        type: "region.state",
        checkId: check.policy.checkId,
        region: region.name,
        from,
        to: state,
        at: t,
        reason: why,
      });
    }
    if (!warming) syncRegionIncident(check, region, t, out);
    return nextStale;
  }

  function syncRegionIncident(check: CheckView, region: RegionView, t: number, out: Transition[]): void {
    const checkId = check.policy.checkId;
    if (region.state === "down" && !region.incident) {
      region.incident = {
        id: incidentId("region", check, region.slot, region.downStartedAt, [region]),
        checkId,
        ...uidOf(check),
        kind: "region",
        state: "open",
        startedAt: region.downStartedAt,
        confirmedAt: t,
        resolvedAt: null,
        regions: [region.name],
        reason: region.reason,
      };
      region.slot.unseen = false;
      emit(out, { type: "region.opened", checkId, at: t, outage: { ...region.incident } });
    } else if ((region.state === "up" || region.state === "degraded") && region.incident) {
      if (region.slot.unseen) {
        if (!recoverySeen(check, region.incident, t)) return;
        region.slot.unseen = false;
      }
      const done = resolved(region.incident, t, []);
      region.incident = null;
      emit(out, { type: "region.resolved", checkId, at: t, outage: done });
    }
  }

  function evaluate(check: CheckView, t: number, out: Transition[]): void {
    let nextStale = Infinity;
    const states: RegionState[] = [];
    for (const region of check.regions.values()) {
      const n = evaluateRegion(check, region, t, out);
      if (n < nextStale) nextStale = n;
      states.push(region.state);
    }
    check.nextStaleAt = nextStale;
    const total = check.policy.regions.length > 0 ? check.policy.regions.length : check.regions.size;
    const state = decideGlobal(states, check.policy.quorum, total);
    const checkId = check.policy.checkId;
    if (state !== check.state) {
      emit(out, { type: "check.state", checkId, from: check.state, to: state, at: t });
      check.state = state;
      check.since = t;
    }
    // Episodes are followed while warming up too (emit() announces nothing then), so a takeover names
    // them as their live owner did.
    const allError = state === "unknown" && states.length > 0 && everyVantagePointErrors(check);
    if (allError && Number.isNaN(check.errorSince)) {
      check.errorSince = t;
      const erring = [...check.regions.values()].filter((r) => r.state === "error");
      check.errorEpisode = episodeId("error", check, erring);
      check.errorMessage = erring[0]?.error ?? "";
      emit(out, { type: "check.error", checkId, at: t, episode: check.errorEpisode, message: check.errorMessage });
    } else if (!allError && states.some((s) => s === "up" || s === "degraded" || s === "down")) {
      // A vantage point can judge the check again. Silence (no fresh results) ends nothing.
      endError(check, t, "verdict", out);
    }
    if (state === "degraded" && !check.degradedOpen) {
      check.degradedOpen = true;
      check.degradedEpisode = degradedEpisode(check);
      emit(out, { type: "check.degraded", checkId, at: t, episode: check.degradedEpisode });
    } else if (state === "up" && check.degradedOpen) {
      const episode = check.degradedEpisode;
      check.degradedOpen = false;
      check.degradedEpisode = "";
      emit(out, { type: "check.recovered", checkId, at: t, episode });
    } else if (state === "down" || state === "partial") {
      // Outage and partial events take over from degraded/recovered.
      check.degradedOpen = false;
      check.degradedEpisode = "";
    }
    if (warming) return;
    syncIncident(check, t, out);
  }

  /**
   * Opens/resolves the check's outage or partial from its current state; `unknown` keeps whatever is
   * open. One incident, one announcement: a partial is announced only once it has held for
   * {@link partialHoldMs} without becoming an outage (a check going down region by region is one
   * outage, not a partial and an outage); an outage that opens over an announced partial absorbs
   * it (`partial.absorbed`, which no hook announces as a recovery); nothing opens without a region down.
   */
  function syncIncident(check: CheckView, t: number, out: Transition[]): void {
    if (check.state === "unknown") return;
    const want: IncidentKind | null = check.state === "down" ? "outage" : check.state === "partial" ? "partial" : null;
    const checkId = check.policy.checkId;
    const downRegions = [...check.regions.values()].filter((r) => r.state === "down");
    const downFrom = Math.min(...downRegions.map((r) => r.downStartedAt));
    // What an outage grows from: the partial just before it, announced or not.
    const grewFrom = want === "outage" ? check.partialFrom : Infinity;
    if (want === "partial") check.partialFrom = Math.min(check.partialFrom, downFrom);
    else {
      check.partialPendingSince = NaN;
      check.partialPendingKey = NaN;
      check.partialFrom = Infinity;
    }
    let absorbed: Outage | null = null;
    if (check.incident && check.incident.kind !== want && check.slot.unseen && want !== "outage") {
      // Adopted at warm-up: it ends only on a recovery seen in results newer than its start.
      if (!recoverySeen(check, check.incident, t)) return;
      check.slot.unseen = false;
    }
    if (check.incident && check.incident.kind !== want) {
      const done = resolved(check.incident, t, []);
      check.incident = null;
      if (done.kind === "partial" && want === "outage") absorbed = done;
      else
        emit(out, {
          type: done.kind === "outage" ? "outage.resolved" : "partial.resolved",
          checkId,
          at: t,
          outage: done,
        });
    }
    if (want === null) return;
    if (!check.incident) {
      if (want === "partial") {
        // The hold runs on the check's results, not on this replica's clock: a replica that learns
        // later (batches, delivery) that the check left `partial` must not announce a partial
        // another never did. It ends with the first result completing after it, still partial.
        if (Number.isNaN(check.partialPendingSince)) check.partialPendingSince = check.resultClock;
        if (Number.isNaN(check.partialPendingKey) && downRegions.length > 0)
          check.partialPendingKey = nextKey("partial", check.slot, downFrom, newestResult(downRegions));
        if (check.resultClock < check.partialPendingSince + partialHoldMs(check.policy)) return;
      }
      if (downRegions.length === 0) return;
      check.partialPendingSince = NaN;
      const suppressedBy = dependenciesDown(check);
      // From the results alone: the first failure of the streaks that decided (and of the partial it
      // grew from, announced or not; an adopted partial's stored start too).
      const startedAt = Math.min(
        absorbed?.startedAt ?? Infinity,
        want === "partial" ? check.partialFrom : grewFrom,
        downFrom,
      );
      const id =
        want === "partial" && !Number.isNaN(check.partialPendingKey)
          ? formatId(want, check, check.partialPendingKey, "")
          : incidentId(want, check, check.slot, startedAt, downRegions);
      check.partialPendingKey = NaN;
      check.incident = {
        id,
        checkId,
        ...uidOf(check),
        kind: want,
        state: "open",
        startedAt,
        confirmedAt: t,
        resolvedAt: null,
        regions: downRegions.map((r) => r.name).sort(),
        reason: dominant(downRegions.map((r) => r.reason)),
        ...(suppressedBy.length > 0 ? { suppressedBy } : {}),
      };
      check.slot.unseen = false;
      if (absorbed) emit(out, { type: "partial.absorbed", checkId, at: t, outage: absorbed, by: check.incident.id });
      emit(out, {
        type: want === "outage" ? "outage.opened" : "partial.opened",
        checkId,
        at: t,
        outage: { ...check.incident },
      });
    } else {
      // Regions that join an open incident are remembered for its resolved record.
      const regions = new Set(check.incident.regions);
      let grew = false;
      for (const r of downRegions) {
        if (regions.has(r.name)) continue;
        regions.add(r.name);
        grew = true;
      }
      if (grew) check.incident = { ...check.incident, regions: [...regions].sort() };
    }
  }

  /** The id of the check's `check.degraded` episode opening now (from its degraded regions' results). */
  function degradedEpisode(check: CheckView): string {
    return episodeId(
      "degraded",
      check,
      [...check.regions.values()].filter((r) => r.state === "degraded"),
    );
  }

  /** Processes staleness deadlines of one check in time order, each at its own instant, so results do not depend on tick cadence. */
  function expire(check: CheckView, t: number, out: Transition[]): void {
    while (check.nextStaleAt <= t) evaluate(check, check.nextStaleAt, out);
  }

  function evaluateDirty(dirty: Set<CheckView>, t: number, out: Transition[]): void {
    for (const c of dirty) {
      if (checks.get(c.policy.checkId) !== c) continue; // removed meanwhile
      expire(c, t, out);
      evaluate(c, t, out);
    }
  }

  /** Every region that has fresh results is in `error`, and at least one is: nobody can judge the check. */
  function everyVantagePointErrors(check: CheckView): boolean {
    let errors = 0;
    for (const r of check.regions.values()) {
      if (r.state === "error") errors++;
      else if (r.state !== "unknown" || r.impaired) return false;
    }
    return errors > 0;
  }

  /** Why a check is `unknown`, for its status. */
  function unknownReason(check: CheckView): { reason: string; missingRegions?: string[] } {
    if (check.state !== "unknown") return { reason: "" };
    if (everyVantagePointErrors(check)) return { reason: "error" };
    const total = check.policy.regions.length > 0 ? check.policy.regions.length : check.regions.size;
    const missing = [...check.regions.values()].filter((r) => r.state === "unknown" || r.state === "error");
    const eligible = check.regions.size - missing.length;
    if (eligible >= minEligible(check.policy.quorum, Math.max(total, eligible)) && total > 0) return { reason: "" };
    return { reason: "quorum unreachable", missingRegions: missing.map((r) => r.name).sort() };
  }

  function valid(o: Observation): boolean {
    return (
      typeof o.checkId === "string" &&
      o.checkId !== "" &&
      typeof o.agentId === "string" &&
      o.agentId !== "" &&
      typeof o.region === "string" &&
      o.region !== "" &&
      Number.isFinite(o.startedAt) &&
      STATES.has(o.state)
    );
  }

  function observeOne(o: Observation, out: Transition[]): void {
    if (!valid(o)) {
      stats.ignoredInvalid++;
      return;
    }
    if (mayVote && !mayVote(o.agentId, o.region)) {
      stats.ignoredNotVoter++;
      return;
    }
    let check = checks.get(o.checkId);
    if (!check) {
      const p = policyFor?.(o.checkId);
      if (!p) {
        stats.ignoredUnknownCheck++;
        return;
      }
      check = addCheck(normalizePolicy(p));
    }
    let region = check.regions.get(o.region);
    if (!region) {
      if (check.policy.regions.length > 0) {
        stats.ignoredOtherRegion++;
        return;
      }
      region = newRegion(o.region);
      check.regions.set(o.region, region);
    }
    if (o.checkUid !== undefined && o.checkUid !== check.policy.checkUid) {
      stats.ignoredOtherUid++;
      return;
    }
    if (
      (o.checkVersion !== undefined && o.checkVersion > 0 && o.checkVersion < check.policy.sinceVersion) ||
      o.startedAt < check.policy.notBefore
    ) {
      stats.ignoredOldVersion++;
      return;
    }
    const t = warming
      ? (replayClock = Math.max(replayClock, Math.min(replayUntil, o.startedAt + o.durationMs)))
      : now();
    if (o.startedAt > t + maxFutureMs) {
      stats.ignoredFuture++;
      return;
    }
    expire(check, t, out);
    const view = region.views.get(o.agentId) ?? newView(check, region, o.agentId);
    if (o.startedAt <= view.last) {
      stats.ignoredOutOfOrder++;
      return;
    }
    stats.observed++;
    // Never ahead of this replica's clock: an agent whose clock runs fast must not end every hold at
    // once (its results then move the hold on this replica's clock, as before results had one).
    const completedAt = Math.min(
      t,
      o.startedAt + (Number.isFinite(o.durationMs) && o.durationMs > 0 ? o.durationMs : 0),
    );
    if (completedAt > check.resultClock) check.resultClock = completedAt;
    const touched = new Set<AgentEntry>();
    if (view.agent.region !== o.region) view.agent.region = o.region;
    applyResult(view, o);
    setCanary(view, touched);
    const ok = o.state !== "down";
    if (!proberError(o) && view.lastOk !== ok) {
      if (view.lastOk === true) {
        region.okViews--;
        check.okViews--;
      }
      if (ok) {
        region.okViews++;
        check.okViews++;
      }
      view.lastOk = ok;
      recomputeContradictions(check, touched);
    }
    const dirty = new Set<CheckView>([check]);
    judgeAgents(touched, t, dirty, out);
    evaluateDirty(dirty, t, out);
  }

  /** Forgets a check: its open incidents are abandoned (a deletion is never a recovery). */
  function remove(check: CheckView, t: number, out: Transition[]): void {
    const touched = new Set<AgentEntry>();
    abandonAll(check, t, "check.deleted", out);
    endError(check, t, "check.deleted", out);
    for (const region of check.regions.values()) for (const v of [...region.views.values()]) removeView(v, touched);
    checks.delete(check.policy.checkId);
    stats.checks = checks.size;
    const dirty = new Set<CheckView>();
    judgeAgents(touched, t, dirty, out);
    evaluateDirty(dirty, t, out);
  }

  function regionStatus(check: CheckView, region: RegionView, t: number): RegionStatus {
    let lastResultAt = 0;
    const list: RegionStatus["agents"] = [];
    for (const v of region.views.values()) {
      if (v.last > lastResultAt) lastResultAt = v.last;
      list.push({
        agentId: v.agentId,
        state: v.state,
        fresh: t < v.last + check.staleAfter,
        impaired: abstains(v.agent),
        lastResultAt: Number.isFinite(v.last) ? v.last : 0,
        ...(v.error !== "" ? { error: v.error } : {}),
      });
    }
    list.sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
    return {
      state: region.state,
      since: region.since,
      lastResultAt,
      impaired: region.impaired,
      impairedReason: region.impairedReason,
      lastReason: region.state === "down" ? region.reason : "",
      error: region.error,
      agents: list,
    };
  }

  function health(a: AgentEntry): AgentHealth {
    return {
      agentId: a.agentId,
      region: a.region,
      impaired: a.impaired,
      reason: a.reason,
      since: a.since,
      checks: a.checks,
      contradicted: a.contradicted,
      canariesDown: a.canariesDown.size,
    };
  }

  return {
    upsertCheck(input, opts = {}) {
      const existing = checks.get(input.checkId);
      // An edit that does not say which uid keeps the check's.
      const policy = normalizePolicy({ ...input, checkUid: input.checkUid ?? existing?.policy.checkUid ?? "" });
      const out: Transition[] = [];
      if (existing && existing.policy.checkUid !== policy.checkUid) {
        // Another check under the same id (the deletion was not seen): the old one is gone.
        remove(existing, now(), out);
      }
      const check = checks.get(policy.checkId);
      if (!check) {
        addCheck(policy);
        return publish(out);
      }
      const t = now();
      const touched = new Set<AgentEntry>();
      if (opts.replaced) {
        abandonAll(check, t, "check.replaced", out);
        endError(check, t, "check.replaced", out);
        for (const region of check.regions.values()) {
          for (const v of [...region.views.values()]) removeView(v, touched);
          region.state = "unknown";
          region.since = t;
        }
        check.state = "unknown";
        check.since = t;
        check.degradedOpen = false;
        check.degradedEpisode = "";
      }
      expire(check, t, out);
      const views = [...check.regions.values()].flatMap((r) => [...r.views.values()]);
      for (const v of views) detach(v);
      check.policy = policy;
      check.staleAfter = staleAfterMs(policy);
      for (const v of views) {
        // A view that left canary duty stops impairing its agent; one that joined starts.
        v.contradicted = false;
        attach(v);
        touched.add(v.agent);
      }
      if (policy.regions.length > 0) {
        const keep = new Set(policy.regions);
        for (const [name, region] of check.regions) {
          if (keep.has(name)) continue;
          if (region.incident) {
            const done = resolved(region.incident, t, []);
            emit(out, { type: "region.resolved", checkId: policy.checkId, at: t, outage: done });
          }
          for (const v of [...region.views.values()]) removeView(v, touched);
          check.regions.delete(name);
        }
        for (const name of policy.regions) if (!check.regions.has(name)) check.regions.set(name, newRegion(name));
      }
      // New thresholds apply to the streaks already counted.
      for (const region of check.regions.values()) for (const v of region.views.values()) applyThresholds(v);
      for (const region of check.regions.values()) for (const v of region.views.values()) setCanary(v, touched);
      recomputeContradictions(check, touched);
      const dirty = new Set<CheckView>([check]);
      judgeAgents(touched, t, dirty, out);
      evaluateDirty(dirty, t, out);
      return publish(out);
    },

    removeCheck(checkId) {
      const check = checks.get(checkId);
      if (!check) return [];
      const out: Transition[] = [];
      remove(check, now(), out);
      return publish(out);
    },

    observe(result) {
      const out: Transition[] = [];
      observeOne(result, out);
      return publish(out);
    },

    setExternalImpairment(agentId, reason) {
      const why = reason ?? "";
      if (why === "") external.delete(agentId);
      else external.set(agentId, why);
      const agent = agents.get(agentId);
      if (!agent || agent.external === why) return [];
      const abstained = abstains(agent);
      agent.external = why;
      if (abstained && !abstains(agent)) forgetAbstainedFailures(agent);
      const out: Transition[] = [];
      const t = now();
      const dirty = new Set<CheckView>();
      for (const v of agent.views) dirty.add(v.check);
      evaluateDirty(dirty, t, out);
      return publish(out);
    },

    removeAgent(agentId) {
      const agent = agents.get(agentId);
      if (!agent) return [];
      const out: Transition[] = [];
      const t = now();
      const touched = new Set<AgentEntry>();
      const dirty = new Set<CheckView>();
      for (const view of [...agent.views]) {
        const { check, region } = view;
        expire(check, t, out);
        removeView(view, touched);
        dirty.add(check);
        // A region this agent alone brought in (the check runs everywhere) leaves with it.
        if (region.views.size === 0 && !check.policy.regions.includes(region.name)) {
          if (region.incident) {
            emit(out, {
              type: "region.resolved",
              checkId: check.policy.checkId,
              at: t,
              outage: resolved(region.incident, t, []),
            });
            region.incident = null;
          }
          check.regions.delete(region.name);
        }
      }
      agents.delete(agentId);
      stats.agents = agents.size;
      touched.delete(agent);
      for (const check of dirty) recomputeContradictions(check, touched);
      judgeAgents(touched, t, dirty, out);
      evaluateDirty(dirty, t, out);
      return publish(out);
    },

    observeMany(results) {
      const out: Transition[] = [];
      for (const r of results) observeOne(r, out);
      return publish(out);
    },

    tick(at) {
      const t = at ?? now();
      const out: Transition[] = [];
      for (const check of checks.values()) if (check.nextStaleAt <= t) expire(check, t, out);
      return publish(out);
    },

    warmUp({ results, openIncidents }) {
      const out: Transition[] = [];
      const t = now();
      warming = true;
      replayClock = -Infinity;
      replayUntil = t;
      try {
        for (const r of results) observeOne(r, out);
        // Staleness up to now, each deadline at its own instant, still silently.
        for (const check of checks.values()) expire(check, t, out);
      } finally {
        warming = false;
      }
      out.length = 0;
      // Degraded and error episodes were followed along the replay, keyed as live. A check degraded
      // then was announced then: no second check.degraded, but its recovery is announced (the hook
      // relay prefers the episode its announcement recorded, which the replay may not reach back to).
      // An open error episode may not have been announced before the owner died: it is announced
      // (again), under the same id.
      for (const check of checks.values())
        if (!Number.isNaN(check.errorSince))
          emit(out, {
            type: "check.error",
            checkId: check.policy.checkId,
            at: t,
            episode: check.errorEpisode,
            message: check.errorMessage,
          });
      for (const incident of openIncidents) {
        if (incident.state !== "open") continue;
        const check = checks.get(incident.checkId);
        const region = incident.kind === "region" ? check?.regions.get(incident.regions[0] ?? "") : undefined;
        const slotOwner = incident.kind === "region" ? region : check;
        if (!check || !slotOwner || (incident.checkUid ?? "") !== check.policy.checkUid) {
          // Its check or region is gone (deleted while no control plane ran, or the id now names
          // another check): closed, but never as a recovery nobody saw.
          const done: Outage = { ...resolved(incident, t, []), state: "abandoned" };
          emit(out, {
            type: "incident.abandoned",
            checkId: incident.checkId,
            at: t,
            outage: done,
            cause: "check.deleted",
          });
          continue;
        }
        adopt(check, slotOwner, incident, t, out);
      }
      for (const check of checks.values()) {
        expire(check, t, out);
        evaluate(check, t, out);
      }
      return publish(out);
    },

    status(checkId) {
      const check = checks.get(checkId);
      if (!check) return undefined;
      const t = now();
      const suppressedBy = dependenciesDown(check);
      const regions: Record<string, RegionStatus> = {};
      for (const name of [...check.regions.keys()].sort())
        regions[name] = regionStatus(check, check.regions.get(name)!, t);
      return {
        checkId,
        state: check.state,
        ...unknownReason(check),
        since: check.since,
        regions,
        outage: check.incident ? { ...check.incident, regions: [...check.incident.regions] } : null,
        ...(suppressedBy.length > 0 ? { suppressedBy } : {}),
      };
    },

    agents() {
      return [...agents.values()]
        .map(health)
        .sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
    },

    agent(agentId) {
      const a = agents.get(agentId);
      return a ? health(a) : undefined;
    },

    openIncidents() {
      const list: Outage[] = [];
      for (const check of checks.values()) {
        if (check.incident) list.push({ ...check.incident });
        for (const r of check.regions.values()) if (r.incident) list.push({ ...r.incident });
      }
      for (const stored of companions.values()) for (const c of stored) list.push({ ...c });
      return list;
    },

    policy(checkId) {
      return checks.get(checkId)?.policy;
    },

    stats() {
      return { ...stats };
    },
  };
}
