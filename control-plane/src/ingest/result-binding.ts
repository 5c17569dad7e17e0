// Binds every result to its sender: the subject the agent's NATS identity may publish on, its
// enrollment, and the checks assigned to its region. One function decides for both storage and
// consensus, so the two paths can never disagree about what is trusted.
import { RESULTS_SUBJECT_PREFIX, type Check } from "@probemesh/proto";
import type { Logger } from "pino";
import { checkRunsIn } from "../checks/check-record.js";
import type { Enrollments } from "../trust/enrollment.js";

/** Why a result is not trusted; each is counted on its own. */
export const UNTRUSTED_REASONS = ["subjectMismatch", "notEnrolled", "revoked", "wrongRegion", "notAssigned"] as const;

/** Why a result is not trusted (see {@link UNTRUSTED_REASONS}). */
export type UntrustedReason = (typeof UNTRUSTED_REASONS)[number];

/** Dropped results per reason. */
export type UntrustedCounts = Record<UntrustedReason, number>;

/** What a result claims about itself: the fields binding looks at. */
export interface ResultClaim {
  checkId: string;
  agentId: string;
  region: string;
}

/** Options of {@link createResultBinding}. */
export interface ResultBindingOptions {
  /** Who is enrolled, for which region, and who is revoked. */
  enrollments: Pick<Enrollments, "get" | "mayVote">;
  /** The current check with this id, or undefined when there is none (synchronous: see followChecks). */
  check: (checkId: string) => Check | undefined;
}

/** Decides whether a result may be stored and vote. */
export interface ResultBinding {
  /**
   * Why `claim` must be dropped, or undefined when it is trusted. With `subject` (the NATS subject it
   * arrived on), its region and agent must be the subject's tokens; without it (results read back from
   * the store) only enrollment and assignment are checked.
   */
  problem(claim: ResultClaim, subject?: string): UntrustedReason | undefined;
  /** True when the check exists (a `notAssigned` of an unknown check may only be the registry trailing). */
  hasCheck(checkId: string): boolean;
}

const PREFIX = `${RESULTS_SUBJECT_PREFIX}.`;

/** True when `subject` is exactly `probemesh.results.<region>.<agentId>`, optionally followed by `.<partition>`. */
function subjectMatches(subject: string, region: string, agentId: string): boolean {
  // Compared in place: no split, no allocation on the hot path. Tokens have no dots, so this is exact.
  const regionAt = PREFIX.length;
  const agentAt = regionAt + region.length + 1;
  const end = agentAt + agentId.length;
  // The partition token (validated against the check's partition by the routing change) is digits.
  return (
    (subject.length === end || (subject.charCodeAt(end) === 46 && /^\d{1,4}$/.test(subject.slice(end + 1)))) &&
    subject.startsWith(PREFIX) &&
    subject.startsWith(region, regionAt) &&
    subject.charCodeAt(agentAt - 1) === 46 /* "." */ &&
    subject.startsWith(agentId, agentAt) &&
    !region.includes(".") &&
    !agentId.includes(".")
  );
}

/** Creates the binding over the enrollments and the check registry. */
export function createResultBinding(opts: ResultBindingOptions): ResultBinding {
  const { enrollments, check } = opts;
  return {
    problem(claim, subject) {
      if (subject !== undefined && !subjectMatches(subject, claim.region, claim.agentId)) return "subjectMismatch";
      // The common case costs one lookup; `get` (which copies) only tells refusals apart.
      if (!enrollments.mayVote(claim.agentId, claim.region)) {
        const agent = enrollments.get(claim.agentId);
        if (!agent) return "notEnrolled";
        if (agent.revokedAt !== undefined) return "revoked";
        return "wrongRegion";
      }
      const c = check(claim.checkId);
      if (!c || !checkRunsIn(c, claim.region)) return "notAssigned";
      return undefined;
    },
    hasCheck: (checkId) => check(checkId) !== undefined,
  };
}

/** Zero for every reason. */
export function emptyUntrustedCounts(): UntrustedCounts {
  return { subjectMismatch: 0, notEnrolled: 0, revoked: 0, wrongRegion: 0, notAssigned: 0 };
}

/** Options of {@link createUntrustedLog}. */
export interface UntrustedLogOptions {
  log: Logger;
  /** Shortest time between two lines for the same agent and reason. @default 60000 */
  everyMs?: number;
  /** Most (agent, reason) pairs remembered; beyond it, the rest share one line. @default 1000 */
  maxKeys?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Counts dropped results per reason and logs them without flooding the log. */
export interface UntrustedLog {
  /**
   * Counts one dropped result and logs it if its (sender, reason) has not been logged within `everyMs`.
   * With `subject`, the sender is the agent token of the subject (what NATS lets that identity publish
   * on), otherwise the agent the result names.
   */
  drop(reason: UntrustedReason, claim: ResultClaim, subject?: string, fields?: Record<string, unknown>): void;
  counts(): UntrustedCounts;
}

interface LogSlot {
  loggedAt: number;
  /** Dropped since the last line. */
  suppressed: number;
}

/**
 * Creates a counter + rate-limited logger: the first drop of a (sender, reason) is logged at once,
 * later ones at most once per `everyMs` with how many were not logged in between. Senders come from
 * the message, so the remembered pairs are bounded: a flood of invented ids shares one slot.
 */
export function createUntrustedLog(opts: UntrustedLogOptions): UntrustedLog {
  const everyMs = opts.everyMs ?? 60_000;
  const maxKeys = opts.maxKeys ?? 1000;
  const now = opts.now ?? Date.now;
  const counts = emptyUntrustedCounts();
  const slots = new Map<string, LogSlot>();

  function slotFor(key: string, t: number): { slot: LogSlot; shared: boolean } {
    const known = slots.get(key);
    if (known) return { slot: known, shared: false };
    if (slots.size >= maxKeys) {
      // Forget pairs that have been quiet for a whole period before sharing a slot.
      for (const [k, s] of slots) if (t - s.loggedAt >= everyMs && s.suppressed === 0) slots.delete(k);
    }
    if (slots.size < maxKeys) {
      const slot = { loggedAt: -Infinity, suppressed: 0 };
      slots.set(key, slot);
      return { slot, shared: false };
    }
    let overflow = slots.get("*");
    if (!overflow) {
      overflow = { loggedAt: -Infinity, suppressed: 0 };
      slots.set("*", overflow);
    }
    return { slot: overflow, shared: true };
  }

  return {
    drop(reason, claim, subject, fields = {}) {
      counts[reason]++;
      const t = now();
      const sender = subject === undefined ? claim.agentId : subject.slice(subject.lastIndexOf(".") + 1);
      const { slot, shared } = slotFor(`${reason}\u0000${sender}`, t);
      if (t - slot.loggedAt < everyMs) {
        slot.suppressed++;
        return;
      }
      opts.log.warn(
        {
          reason,
          ...(subject !== undefined ? { subject: subject.slice(0, 300) } : {}),
          agentId: claim.agentId.slice(0, 256),
          region: claim.region.slice(0, 256),
          checkId: claim.checkId.slice(0, 256),
          ...fields,
          ...(slot.suppressed > 0 ? { droppedSinceLastLine: slot.suppressed } : {}),
          ...(shared ? { note: "too many distinct senders; further lines are shared" } : {}),
        },
        "untrusted probe result dropped",
      );
      slot.loggedAt = t;
      slot.suppressed = 0;
    },
    counts: () => ({ ...counts }),
  };
}
