import type { FailureReason, ProbeOutcome, ProbeVerdict } from "../types.js";

/** Longest message an outcome may carry (the result contract bounds it). */
export const MAX_MESSAGE_CHARS = 512;

/** Cuts a message to the contract's bound, marking the cut. */
export function boundMessage(message: string): string {
  if (message.length <= MAX_MESSAGE_CHARS) return message;
  return `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

/** A failed run: reason and human detail. */
export interface Failure {
  reason: Exclude<FailureReason, "">;
  message: string;
}

/** Builds a failure value (helps TypeScript keep the reason literal). */
export function fail(reason: Failure["reason"], message: string): Failure {
  return { reason, message };
}

/** Rounds a duration to microseconds: finer digits are noise and only bloat results. */
export function roundMs(ms: number): number {
  return Math.max(0, Math.round(ms * 1000) / 1000);
}

/** Fields every outcome needs; the rest are optional per type. */
export type OutcomeInit = Omit<ProbeOutcome, "state" | "reason" | "message" | "attempts"> & {
  failure?: Failure;
  /** Message for a success (e.g. a note that the body was truncated). */
  note?: string;
  attempts?: number;
};

/** Builds a bounded outcome: down with the failure's reason, or up. */
export function outcome(init: OutcomeInit): ProbeOutcome {
  const { failure, note, attempts, ...rest } = init;
  const state: ProbeVerdict = failure ? "down" : "up";
  const phases: ProbeOutcome["phases"] = {};
  for (const [k, v] of Object.entries(rest.phases) as [keyof ProbeOutcome["phases"], number | undefined][]) {
    if (v !== undefined && Number.isFinite(v)) phases[k] = roundMs(v);
  }
  return {
    ...rest,
    phases,
    durationMs: roundMs(rest.durationMs),
    state,
    reason: failure ? failure.reason : "",
    message: boundMessage(failure ? failure.message : (note ?? "")),
    attempts: attempts ?? 1,
  };
}

/**
 * Marks an "up" outcome slower than the check's `degradedAfterMs` as degraded; failures and
 * checks without the option are returned unchanged.
 */
export function applyDegraded(o: ProbeOutcome, degradedAfterMs: number): ProbeOutcome {
  if (o.state !== "up" || degradedAfterMs <= 0 || o.durationMs <= degradedAfterMs) return o;
  const note = `slower than degradedAfterMs (${o.durationMs.toFixed(0)} ms > ${degradedAfterMs} ms)`;
  return { ...o, state: "degraded", message: boundMessage(o.message ? `${note}; ${o.message}` : note) };
}
