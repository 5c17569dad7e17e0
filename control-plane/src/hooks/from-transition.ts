import type { CheckStatus, Outage, Transition } from "../consensus/types.js";
import type { HookEvent, HookEventData, HookEventType } from "./types.js";

const INCIDENT_EVENTS = new Set<string>(["outage.opened", "outage.resolved", "partial.opened", "partial.resolved"]);

/** Why an incident was abandoned. */
export type AbandonCause = "check.deleted" | "check.replaced";

function regionsOf(status: CheckStatus | undefined): HookEventData["regions"] {
  return Object.fromEntries(
    Object.entries(status?.regions ?? {}).map(([name, r]) => [
      name,
      r.since > 0 ? { state: r.state, since: r.since } : { state: r.state },
    ]),
  );
}

function incidentData(o: Outage, state: string, regions: HookEventData["regions"]): HookEventData {
  return {
    checkId: o.checkId,
    outageId: o.id,
    kind: o.kind,
    state,
    regions,
    startedAt: o.startedAt,
    confirmedAt: o.confirmedAt,
    ...(o.resolvedAt !== null ? { resolvedAt: o.resolvedAt } : {}),
    reason: o.reason,
    ...(o.suppressedBy && o.suppressedBy.length > 0 ? { suppressedBy: o.suppressedBy } : {}),
  };
}

/**
 * The hook events for a consensus transition: none for per-region and per-agent changes, two for
 * an incident abandoned because its check was deleted (`incident.abandoned` then `check.deleted`),
 * one otherwise. Ids are derived from the transition's data alone (the incident id where there is
 * one, never the abandon time, which differs between replicas and starts), so replicas and replays
 * of the same transition produce the same events (and consumers see the same webhook-id).
 */
export function hookEventsFromTransition(t: Transition, status: CheckStatus | undefined): HookEvent[] {
  const timestamp = new Date(t.at).toISOString();
  if (t.type === "incident.abandoned") {
    const o = t.outage;
    if (o.kind === "region") return [];
    // A deleted check has no status left: its incident's regions, with no verdict any more.
    const regions = status ? regionsOf(status) : Object.fromEntries(o.regions.map((r) => [r, { state: "unknown" }]));
    const data = { ...incidentData(o, "abandoned", regions), cause: t.cause };
    const abandoned: HookEvent = { id: `${o.id}:incident.abandoned`, type: "incident.abandoned", timestamp, data };
    if (t.cause !== "check.deleted") return [abandoned];
    return [
      abandoned,
      { id: `${o.id}:check.deleted`, type: "check.deleted", timestamp, data: { ...data, state: "deleted" } },
    ];
  }
  const event = hookEventFromTransition(t, status);
  return event ? [event] : [];
}

/**
 * The one hook event for a consensus transition, or undefined when hooks do not hear about it
 * (per-region and per-agent changes). See {@link hookEventsFromTransition}, which also gives the
 * `check.deleted` that goes with an `incident.abandoned`.
 */
export function hookEventFromTransition(t: Transition, status: CheckStatus | undefined): HookEvent | undefined {
  const regions = regionsOf(status);
  const timestamp = new Date(t.at).toISOString();
  if (INCIDENT_EVENTS.has(t.type) && "outage" in t) {
    const o = t.outage;
    const state =
      status?.state ?? (t.type === "outage.opened" ? "down" : t.type === "partial.opened" ? "partial" : "up");
    return { id: `${o.id}:${t.type}`, type: t.type as HookEventType, timestamp, data: incidentData(o, state, regions) };
  }
  if (t.type === "incident.abandoned") return hookEventsFromTransition(t, status)[0];
  if (t.type === "partial.absorbed") {
    const o = t.outage;
    return {
      id: `${o.id}:partial.absorbed`,
      type: "partial.absorbed",
      timestamp,
      data: { ...incidentData(o, status?.state ?? "down", regions), absorbedBy: t.by },
    };
  }
  if (t.type === "check.error") {
    return {
      id: `${t.episode}:check.error`,
      type: "check.error",
      timestamp,
      data: { checkId: t.checkId, state: status?.state ?? "unknown", regions, reason: "error", message: t.message },
    };
  }
  if (t.type === "check.error.resolved") {
    // Keyed by the episode (from result data), never by when its end was noticed (a deletion's time
    // differs between replicas): every replica and replay gives the same id.
    return {
      id: `${t.episode}:check.error.resolved`,
      type: "check.error.resolved",
      timestamp,
      data: {
        checkId: t.checkId,
        state: status?.state ?? (t.cause === "check.deleted" ? "deleted" : "unknown"),
        regions,
        startedAt: t.since,
        resolvedAt: t.at,
        cause: t.cause,
      },
    };
  }
  if (t.type === "check.degraded" || t.type === "check.recovered") {
    return {
      id: `${t.episode}:${t.type}`,
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
 * `opened` event of every open outage or partial incident, and `opened` then its end of the ones
 * closed recently (`resolved`; `incident.abandoned`, with `check.deleted` when the check is gone).
 * Ids are the original ones, so deliveries already made are recognised as duplicates (JetStream
 * dedupe on enqueue, then the consumers' webhook-id). The `opened` of a closed incident confirmed
 * before the dedupe window is left out: JetStream would no longer drop it, and a trigger after the
 * resolve pages (PagerDuty opens a new incident) for nothing. An abandoned incident never looks open.
 */
export function reannouncements(
  incidents: Iterable<Outage>,
  status: (checkId: string) => CheckStatus | undefined,
  options?: ReannounceOptions,
): HookEvent[] {
  const events: HookEvent[] = [];
  const list = [...incidents];
  // A partial closed at the instant an outage of its check was confirmed was absorbed by it (stored
  // as resolved): it is announced again as absorbed, never as a recovery.
  const outageAt = new Map(list.filter((o) => o.kind === "outage").map((o) => [`${o.checkId}@${o.confirmedAt}`, o.id]));
  for (const o of list) {
    if (o.kind === "region") continue;
    const closed = o.state !== "open";
    const stale = closed && options !== undefined && o.confirmedAt < options.now - options.dedupeWindowMs;
    const current = status(o.checkId);
    const opened = stale
      ? undefined
      : hookEventFromTransition(
          { type: `${o.kind}.opened`, checkId: o.checkId, at: o.confirmedAt, outage: o },
          current,
        );
    if (opened) events.push(opened);
    if (o.resolvedAt === null) continue;
    const absorbedBy = o.kind === "partial" ? outageAt.get(`${o.checkId}@${o.resolvedAt}`) : undefined;
    if (o.state === "resolved" && absorbedBy !== undefined) {
      const absorbed = hookEventFromTransition(
        { type: "partial.absorbed", checkId: o.checkId, at: o.resolvedAt, outage: o, by: absorbedBy },
        current,
      );
      if (absorbed) events.push(absorbed);
    } else if (o.state === "resolved") {
      const resolved = hookEventFromTransition(
        { type: `${o.kind}.resolved`, checkId: o.checkId, at: o.resolvedAt, outage: o },
        current,
      );
      if (resolved) events.push(resolved);
    } else if (o.state === "abandoned") {
      // The cause is not stored: a check that is gone was deleted, one still there was replaced.
      const cause: AbandonCause = current ? "check.replaced" : "check.deleted";
      events.push(
        ...hookEventsFromTransition(
          { type: "incident.abandoned", checkId: o.checkId, at: o.resolvedAt, outage: o, cause },
          current,
        ),
      );
    }
  }
  return events;
}

/**
 * What to do about one check whose `check.degraded` went to hooks without a `check.recovered` (its
 * recovery may have happened while no control plane ran, or behind an outage, where the engine
 * announces none): a `check.recovered` event when the check is up now; `"forget"` when the check no
 * longer exists; undefined (keep waiting) while it is degraded, down, partial or unknown, since its
 * next recovery must still be announced. Its id is the announced episode's (`episode`, recorded with
 * the degraded mark), so replicas and repeated starts produce the same id, and the same as the
 * engine's own `check.recovered` of that episode. A mark from before episodes has none: the id is then
 * keyed by when the check became up (`now` if unknown), as it was.
 */
export function belatedRecovery(
  checkId: string,
  status: CheckStatus | undefined,
  now: number,
  episode?: string,
): HookEvent | "forget" | undefined {
  if (!status) return "forget";
  if (status.state !== "up") return undefined;
  const at = status.since > 0 ? status.since : now;
  const event = hookEventFromTransition({ type: "check.recovered", checkId, at, episode: episode ?? checkId }, status);
  return event && episode === undefined ? { ...event, id: `${checkId}:check.recovered:${at}` } : event;
}
