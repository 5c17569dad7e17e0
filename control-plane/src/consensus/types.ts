/** A probe verdict of one result. */
export type ProbeStateName = "up" | "degraded" | "down";

/**
 * State of one check as seen from one region (or one agent). `error`: the probes there could not
 * run (prober failure, not the target's); like `unknown` it never votes.
 */
export type RegionState = "up" | "degraded" | "down" | "unknown" | "error";

/** The one global verdict of a check. */
export type GlobalState = "up" | "degraded" | "partial" | "down" | "unknown";

/** How many eligible regions must agree on `down`: more than half, all, any one, or at least N. */
export type Quorum = "majority" | "all" | "any" | number;

/** One stored probe result as the engine needs it (plain domain type, not protobuf). */
export interface Observation {
  checkId: string;
  /**
   * The uid the result was attributed to at ingest. A result for another uid than the check's
   * (the id was deleted and created again) is ignored. @default undefined (not stamped: accepted)
   */
  checkUid?: string;
  agentId: string;
  region: string;
  /** Epoch ms. */
  startedAt: number;
  durationMs: number;
  state: ProbeStateName;
  /** Classified failure reason ("" on success). */
  reason: string;
  /** Human detail of a failure (shown for prober errors). @default "" */
  message?: string;
  /** True for results of canary checks (the vantage point testing itself). */
  canary: boolean;
  /** Config version of the check the agent ran. @default 0 (unknown: accepted) */
  checkVersion?: number;
}

/** The part of a check the engine decides with. */
export interface CheckPolicy {
  checkId: string;
  /**
   * The check's immutable identity. A check id whose uid changes (deleted and created again) is a
   * new check: its state starts afresh and its old incidents are abandoned. @default ""
   */
  checkUid: string;
  /**
   * Checks this one depends on: an incident that opens while one of them has an open outage is
   * marked suppressed (`suppressedBy`). @default []
   */
  dependsOn: readonly string[];
  intervalMs: number;
  timeoutMs: number;
  /** Regions that run the check; empty means every region that reports. */
  regions: readonly string[];
  /** Consecutive failures that put an agent's view of the check into `down`. @default 2 */
  failureThreshold: number;
  /** Consecutive successes that take it out of `down`. @default 2 */
  recoveryThreshold: number;
  /** @default "majority" */
  quorum: Quorum;
  /** A canary check tests the agent itself: its failure impairs the agent. @default false */
  canary: boolean;
  /**
   * Results of older config versions are ignored: set to the version that changed what is probed,
   * so results about the old target never vote on the new one. @default 0
   */
  sinceVersion: number;
  /**
   * Results started before this instant (epoch ms: the check's creation) are ignored, so a check id
   * re-created after a deletion never inherits the deleted check's results. @default 0
   */
  notBefore: number;
}

/** Kind of incident: a confirmed global outage, a regional (below quorum) incident, or one region's down interval. */
export type IncidentKind = "outage" | "partial" | "region";

/** An outage, partial (regional) incident, or one region's down interval. Times are epoch ms. */
export interface Outage {
  /**
   * From result data only: `${kind}:${checkId}:${uid8}[:${region}]:${startedAt}` (`uid8`, the first 8
   * characters of `checkUid`, is left out with its colon for a check without uid), never the deciding
   * replica's clock, so replicas, takeovers and replays deciding the same transition name it the same.
   * Opaque: nothing parses it. See the consensus README for the re-formed-incident rule.
   */
  id: string;
  checkId: string;
  /** The uid of the check the incident belongs to. @default "" */
  checkUid?: string;
  kind: IncidentKind;
  /**
   * `abandoned`: closed because the check was deleted or what it probes changed, not because the
   * target recovered (failover actions keep their failed-over state).
   */
  state: "open" | "resolved" | "abandoned";
  /** First failing observation among the regions that formed the decision (result data, the agents' clock). */
  startedAt: number;
  /** When the engine decided. */
  confirmedAt: number;
  /** When recovery was confirmed (or the incident abandoned); null while open. */
  resolvedAt: number | null;
  /** Regions that agreed (union over the incident's life once resolved). */
  regions: string[];
  /** Dominant failure reason among those regions. */
  reason: string;
  /**
   * Dependencies (`dependsOn`) that had an open outage when the incident opened: it is
   * suppressed (stored and shown, not announced to hooks while they stay down). Absent or empty:
   * not suppressed.
   */
  suppressedBy?: string[];
}

/** Why and since when an agent abstains. */
export interface AgentHealth {
  agentId: string;
  region: string;
  impaired: boolean;
  /** Human-readable reason while impaired, "" otherwise. */
  reason: string;
  /** When `impaired` last changed (epoch ms), 0 if never. */
  since: number;
  /** Checks this agent reports on (canaries excluded). */
  checks: number;
  /** Of those, how many it currently sees failing while another region sees them working. */
  contradicted: number;
  /** Canary checks this agent currently fails. */
  canariesDown: number;
}

/** One region's view of a check in a status answer. */
export interface RegionStatus {
  state: RegionState;
  /** When the region entered `state` (epoch ms), 0 if never decided. */
  since: number;
  /** Start time of the newest result from the region, 0 if none. */
  lastResultAt: number;
  /** True when the region abstains because its agents are impaired. */
  impaired: boolean;
  /** Why it abstains ("" when it does not). */
  impairedReason: string;
  /** Reason of the newest failing result, "" if none. */
  lastReason: string;
  /** While the region is in `error`: what its probers report ("internal: invalid check: ..."), else "". */
  error: string;
  /** Per-agent views. */
  agents: {
    agentId: string;
    state: RegionState;
    fresh: boolean;
    impaired: boolean;
    lastResultAt: number;
    /** The agent's newest result was a prober error: this message. Omitted otherwise. */
    error?: string;
  }[];
}

/** What the engine currently thinks about one check. */
export interface CheckStatus {
  checkId: string;
  state: GlobalState;
  /**
   * Why the state is `unknown`: "error" when every vantage point's probes fail to run; "quorum
   * unreachable" when too few regions have a verdict to decide (see `missingRegions`); else "".
   */
  reason: string;
  /** With reason "quorum unreachable": the regions without a verdict (no fresh results, impaired, error). */
  missingRegions?: string[];
  /** When the global state last changed (epoch ms), 0 if never. */
  since: number;
  regions: Record<string, RegionStatus>;
  /** The open outage or partial incident, if any. */
  outage: Outage | null;
  /** Dependencies (`dependsOn`) with an open outage now: this check's new incidents are suppressed. */
  suppressedBy?: string[];
}

/**
 * Why a `check.error` episode ended: a region has a verdict again (`verdict`), or the check was
 * deleted or what it probes changed (a new target starts with no episode).
 */
export type ErrorEndCause = "verdict" | "check.deleted" | "check.replaced";

/** Something that changed; every transition carries the engine time it was decided at. */
export type Transition =
  | {
      type: "region.state";
      checkId: string;
      region: string;
      from: RegionState;
      to: RegionState;
      at: number;
      reason: string;
    }
  | { type: "check.state"; checkId: string; from: GlobalState; to: GlobalState; at: number }
  | {
      type: "check.degraded" | "check.recovered";
      checkId: string;
      at: number;
      /**
       * The degraded episode this opens or ends: `degraded:${checkId}:${uid8}:${key}`, from result data
       * (see the consensus README), the same on every replica that decides it from the same results.
       */
      episode: string;
    }
  | {
      /** Every vantage point of the check fails to run it (prober errors): nobody can judge it. */
      type: "check.error";
      checkId: string;
      at: number;
      /** The episode: `error:${checkId}:${uid8}:${key}`, from result data like `check.degraded`'s. */
      episode: string;
      /** One of the probers' messages. */
      message: string;
    }
  | {
      /** The `check.error` episode that started at `since` ended (see {@link ErrorEndCause}). */
      type: "check.error.resolved";
      checkId: string;
      at: number;
      /** `at` of the episode's `check.error`. */
      since: number;
      /** The `episode` of that `check.error`. */
      episode: string;
      cause: ErrorEndCause;
    }
  | {
      type:
        | "outage.opened"
        | "outage.resolved"
        | "partial.opened"
        | "partial.resolved"
        | "region.opened"
        | "region.resolved";
      checkId: string;
      at: number;
      outage: Outage;
    }
  | {
      /** An open incident closed because its check was deleted or what it probes changed: never a recovery. */
      type: "incident.abandoned";
      checkId: string;
      at: number;
      outage: Outage;
      /** "check.deleted" or "check.replaced". */
      cause: "check.deleted" | "check.replaced";
    }
  | {
      /** An announced partial closed because an outage (`by`) opened over it: not a recovery. */
      type: "partial.absorbed";
      checkId: string;
      at: number;
      outage: Outage;
      by: string;
    }
  | { type: "agent.impaired" | "agent.recovered"; agentId: string; region: string; at: number; reason: string };
