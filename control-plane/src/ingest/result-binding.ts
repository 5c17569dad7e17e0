// Binds every result to its sender: the subject the agent's NATS identity may publish on, its
// enrollment, and the checks assigned to its region. One function decides for both storage and
// consensus, so the two paths can never disagree about what is trusted.
import { MAX_PARTITIONS, parseResultSubject, partitionOf, type Check } from "@probemesh/proto";
import type { Logger } from "pino";
import { checkRunsIn } from "../checks/check-record.js";
import type { Enrollments } from "../trust/enrollment.js";

/** Why a result is not trusted; each is counted on its own. */
export const UNTRUSTED_REASONS = [
  "subjectMismatch",
  "notEnrolled",
  "revoked",
  "wrongRegion",
  "notAssigned",
  "partition",
] as const;

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
  /**
   * The mesh's partition count (PROBEMESH_PARTITIONS): a result on a partitioned subject must be on
   * `partitionOf(check.uid, partitions)`, the partition whose decider counts it.
   */
  partitions: number;
}

/** Decides whether a result may be stored and vote. */
export interface ResultBinding {
  /**
   * Why `claim` must be dropped, or undefined when it is trusted. With `subject` (the NATS subject it
   * arrived on: `probemesh.results.<region>.<agent>` or `….<partition>`), its region and agent must be the
   * subject's tokens and a partition token must be its check's; without it (results read back from the
   * store) only enrollment and assignment are checked.
   */
  problem(claim: ResultClaim, subject?: string): UntrustedReason | undefined;
  /** True when the check exists (a `notAssigned` of an unknown check may only be the registry trailing). */
  hasCheck(checkId: string): boolean;
}

/** Most result subjects whose parse the binding keeps (then it starts over). */
const SUBJECT_CACHE_SIZE = 10_000;

/** Creates the binding over the enrollments and the check registry. */
export function createResultBinding(opts: ResultBindingOptions): ResultBinding {
  const { enrollments, check, partitions } = opts;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)
    throw new RangeError(`partitions must be an integer in 1..${MAX_PARTITIONS}, got ${partitions}`);
  // Subjects parsed once: there is one per agent (and partition), and every result of it arrives on it.
  const parsed = new Map<string, ReturnType<typeof parseResultSubject>>();
  const parse = (subject: string): ReturnType<typeof parseResultSubject> => {
    if (parsed.has(subject)) return parsed.get(subject);
    if (parsed.size >= SUBJECT_CACHE_SIZE) parsed.clear();
    const sent = parseResultSubject(subject);
    parsed.set(subject, sent);
    return sent;
  };
  return {
    problem(claim, subject) {
      // Both forms are accepted: agents of a control plane that announced no partition count use the 4-token one.
      const sent = subject === undefined ? undefined : parse(subject);
      if (subject !== undefined && (sent?.region !== claim.region || sent.agentId !== claim.agentId))
        return "subjectMismatch";
      // The common case costs one lookup; `get` (which copies) only tells refusals apart.
      if (!enrollments.mayVote(claim.agentId, claim.region)) {
        const agent = enrollments.get(claim.agentId);
        if (!agent) return "notEnrolled";
        if (agent.revokedAt !== undefined) return "revoked";
        return "wrongRegion";
      }
      const c = check(claim.checkId);
      if (!c || !checkRunsIn(c, claim.region)) return "notAssigned";
      // A result on another partition would escape its check's decider (or vote in one it does not
      // belong to). Agents publish checks without a uid on the 4-token subject, so no partition is theirs.
      if (sent?.partition !== undefined && (c.uid === "" || sent.partition !== partitionOf(c.uid, partitions)))
        return "partition";
      return undefined;
    },
    hasCheck: (checkId) => check(checkId) !== undefined,
  };
}

/** Zero for every reason. */
export function emptyUntrustedCounts(): UntrustedCounts {
  return { subjectMismatch: 0, notEnrolled: 0, revoked: 0, wrongRegion: 0, notAssigned: 0, partition: 0 };
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
      // The subject's agent token, what NATS let publish it; a subject that is no result subject is its own sender.
      const sender = subject === undefined ? claim.agentId : (parseResultSubject(subject)?.agentId ?? subject);
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
