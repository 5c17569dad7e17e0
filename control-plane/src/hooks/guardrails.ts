import { directionOf } from "./actions/types.js";
import { ACTION_HOOK_TYPES, type Hook, type HookEvent } from "./types.js";

/** What a hook last did for one check, kept to enforce order, cooldown and minimum hold. */
export interface AppliedState {
  eventId: string;
  eventType: HookEvent["type"];
  /** Epoch ms of the applied event's transition. */
  eventAt: number;
  direction: "failover" | "failback";
  /** Epoch ms when it was applied. */
  appliedAt: number;
}

/** The guardrails' verdict for one delivery. */
export type GuardDecision =
  { kind: "proceed" } | { kind: "superseded"; reason: string } | { kind: "hold"; untilMs: number; reason: string };

/** Epoch ms of an event's transition (its ISO timestamp). */
export function eventTime(event: HookEvent): number {
  return Date.parse(event.timestamp);
}

/**
 * Decides whether a delivery may run now. Traffic-changing hooks never apply an event older than
 * the last one they applied for the check (a late retry must not undo a newer transition). A change
 * of direction waits for `cooldownMs` after the last action, and a failback waits until the failover
 * has been in place for `minHoldMs` (so a flapping target does not bounce traffic back and forth).
 */
export function decide(hook: Hook, event: HookEvent, last: AppliedState | undefined, now: number): GuardDecision {
  const dir = directionOf(event.type);
  // An event that moves no traffic (a notification of an abandoned incident, say) is never held.
  if (dir === "test" || dir === "none" || !last) return { kind: "proceed" };
  if (ACTION_HOOK_TYPES.includes(hook.type) && eventTime(event) < last.eventAt && event.id !== last.eventId) {
    return { kind: "superseded", reason: `a newer transition (${last.eventType} ${last.eventId}) was already applied` };
  }
  if (dir === last.direction) return { kind: "proceed" };
  const holds: { untilMs: number; reason: string }[] = [];
  if (hook.cooldownMs > 0)
    holds.push({
      untilMs: last.appliedAt + hook.cooldownMs,
      reason: `cooldown of ${hook.cooldownMs} ms after the last action`,
    });
  if (dir === "failback" && last.direction === "failover" && hook.minHoldMs > 0) {
    holds.push({
      untilMs: last.appliedAt + hook.minHoldMs,
      reason: `minimum hold of ${hook.minHoldMs} ms before failing back`,
    });
  }
  const longest = holds.filter((h) => h.untilMs > now).sort((a, b) => b.untilMs - a.untilMs)[0];
  return longest ? { kind: "hold", ...longest } : { kind: "proceed" };
}
