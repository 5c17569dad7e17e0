import type { Logger } from "pino";
import type { ActionResult, Hook, HookEvent, HookEventType, HookType } from "../types.js";

/** What an adapter gets besides the event and the hook. */
export interface ActionContext {
  /** Aborted when the per-attempt timeout expires: every network call must honour it. */
  signal: AbortSignal;
  /** Clock in epoch ms. */
  now: () => number;
  log: Logger;
  /** The delivery's stable id (the `webhook-id` of HTTP hooks): the same on every attempt and replica. */
  deliveryId: string;
  /** Last known global state of a check ("down", "up", ...), as seen by the hooks; undefined when unknown. */
  checkState: (checkId: string) => Promise<string | undefined>;
}

/**
 * One built-in hook type. `apply` performs the event's action (or, when `hook.dryRun`, only says what
 * it would do, changing nothing) and reads the result back; `verify` only reads back whether the
 * target is in the state the event asks for. Adapters never throw for a failed call: they return
 * `ok: false` with an `error` (retried), `refused` (fail open, not retried) or `disable` (HTTP 410).
 */
export interface HookAdapter {
  readonly type: HookType;
  /** True when the adapter can read the target's state back (load balancer, DNS); false for push-only receivers. */
  readonly readBack: boolean;
  apply(event: HookEvent, hook: Hook, ctx: ActionContext): Promise<ActionResult>;
  verify(event: HookEvent, hook: Hook, ctx: ActionContext): Promise<ActionResult>;
}

/** Which way an event moves traffic. */
export type Direction = "failover" | "failback" | "test";

/** The direction of an event type: an outage/partial/degradation fails over, its end fails back. */
export function directionOf(type: HookEventType): Direction {
  if (type === "test") return "test";
  return type.endsWith(".opened") || type === "check.degraded" ? "failover" : "failback";
}

/** Message of anything thrown, without stack or cause (which might carry a URL with credentials). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
