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
  /** A check's display name (`name`), when it has one and the registry knows it; notifications show it. */
  checkName?: (checkId: string) => Promise<string | undefined>;
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

/** Which way an event moves traffic; `none`: it moves none (see {@link directionOf}). */
export type Direction = "failover" | "failback" | "test" | "none";

/**
 * The direction of an event type: an outage/partial/degradation fails over, its recovery fails back.
 * An incident that ends without a recovery (`incident.abandoned`: check deleted or replaced;
 * `partial.absorbed`: an outage took over), `check.deleted`, `check.error` and `check.error.resolved`
 * (prober errors say nothing about the target) move no traffic: the failed-over state is kept.
 */
export function directionOf(type: HookEventType): Direction {
  if (type === "test") return "test";
  if (type === "check.error" || type === "check.error.resolved") return "none";
  if (type.endsWith(".opened") || type === "check.degraded") return "failover";
  if (type.endsWith(".resolved") || type === "check.recovered") return "failback";
  return "none";
}

/** The result of an action hook handed an event that moves no traffic: nothing is sent, nothing changes. */
export function unchanged(event: HookEvent, target: string): ActionResult {
  return { ok: true, action: `nothing to do: ${event.type} leaves ${target} as it is` };
}

/** Why an incident ends without a recovery, for the note of its resolve (notification hooks). */
export function endNote(event: HookEvent): string | undefined {
  const d = event.data;
  if (event.type === "partial.absorbed")
    return `partial incident of check ${d.checkId} absorbed by outage ${d.absorbedBy ?? "?"}: not a recovery`;
  if (event.type !== "incident.abandoned") return undefined;
  const why =
    d.cause === "check.replaced" ? `what check ${d.checkId} probes changed` : `check ${d.checkId} was deleted`;
  return `abandoned, not recovered: ${why}`;
}

/** Message of anything thrown, without stack or cause (which might carry a URL with credentials). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
