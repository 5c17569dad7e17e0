import type { CheckStatus, Outage, Transition } from "../consensus/types.js";
import type { HookEvent, HookEventType } from "./types.js";

const INCIDENT_EVENTS = new Set<string>(["outage.opened", "outage.resolved", "partial.opened", "partial.resolved"]);

/**
 * The hook event for a consensus transition, or undefined when hooks do not hear about it
 * (per-region and per-agent changes). The id is derived from the transition alone, so replicas and
 * replays of the same transition produce the same event (and consumers see the same webhook-id).
 */
export function hookEventFromTransition(t: Transition, status: CheckStatus | undefined): HookEvent | undefined {
  const regions = Object.fromEntries(
    Object.entries(status?.regions ?? {}).map(([name, r]) => [
      name,
      r.since > 0 ? { state: r.state, since: r.since } : { state: r.state },
    ]),
  );
  const timestamp = new Date(t.at).toISOString();
  if (INCIDENT_EVENTS.has(t.type) && "outage" in t) {
    const o = t.outage;
    return {
      id: `${o.id}:${t.type}`,
      type: t.type as HookEventType,
      timestamp,
      data: {
        checkId: o.checkId,
        outageId: o.id,
        state: status?.state ?? (t.type === "outage.opened" ? "down" : t.type === "partial.opened" ? "partial" : "up"),
        regions,
        startedAt: o.startedAt,
        confirmedAt: o.confirmedAt,
        ...(o.resolvedAt !== null ? { resolvedAt: o.resolvedAt } : {}),
        reason: o.reason,
      },
    };
  }
  if (t.type === "check.degraded" || t.type === "check.recovered") {
    return {
      id: `${t.checkId}:${t.type}:${t.at}`,
      type: t.type,
      timestamp,
      data: { checkId: t.checkId, state: status?.state ?? (t.type === "check.degraded" ? "degraded" : "up"), regions },
    };
  }
  return undefined;
}

/** Which already-resolved incidents may still have their `opened` event re-announced. */
export interface ReannounceOptions {
  /** Epoch ms of the start. */
  now: number;
  /** The delivery queue's dedupe window: an `opened` enqueued within it is dropped as a duplicate. */
  dedupeWindowMs: number;
}

/**
 * Events to publish again at start for incidents that may have changed just before a crash: the
 * `opened` event of every open outage or partial incident, and `opened` then `resolved` of the ones
 * resolved recently. Ids are the original ones, so deliveries already made are recognised as
 * duplicates (JetStream dedupe on enqueue, then the consumers' webhook-id). The `opened` of a
 * resolved incident confirmed before the dedupe window is left out: JetStream would no longer drop
 * it, and a trigger after the resolve pages (PagerDuty opens a new incident) for nothing.
 */
export function reannouncements(
  incidents: Iterable<Outage>,
  status: (checkId: string) => CheckStatus | undefined,
  options?: ReannounceOptions,
): HookEvent[] {
  const events: HookEvent[] = [];
  for (const o of incidents) {
    if (o.kind === "region") continue;
    const stale =
      o.state === "resolved" && options !== undefined && o.confirmedAt < options.now - options.dedupeWindowMs;
    const opened = stale
      ? undefined
      : hookEventFromTransition(
          { type: `${o.kind}.opened`, checkId: o.checkId, at: o.confirmedAt, outage: o },
          status(o.checkId),
        );
    if (opened) events.push(opened);
    if (o.state === "resolved" && o.resolvedAt !== null) {
      const resolved = hookEventFromTransition(
        { type: `${o.kind}.resolved`, checkId: o.checkId, at: o.resolvedAt, outage: o },
        status(o.checkId),
      );
      if (resolved) events.push(resolved);
    }
  }
  return events;
}

/**
 * What to do about one check whose `check.degraded` went to hooks without a `check.recovered` (its
 * recovery may have happened while no control plane ran, or behind an outage, where the engine
 * announces none): a `check.recovered` event when the check is up now; `"forget"` when the check no
 * longer exists; undefined (keep waiting) while it is degraded, down, partial or unknown, since its
 * next recovery must still be announced. The event's time is when the check became up (`now` if
 * unknown), so replicas and repeated starts produce the same id.
 */
export function belatedRecovery(
  checkId: string,
  status: CheckStatus | undefined,
  now: number,
): HookEvent | "forget" | undefined {
  if (!status) return "forget";
  if (status.state !== "up") return undefined;
  return hookEventFromTransition(
    { type: "check.recovered", checkId, at: status.since > 0 ? status.since : now },
    status,
  );
}
