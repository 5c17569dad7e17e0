import { HOOK_EVENT_TYPES, type HookEvent, type HookEventType, type HookRecord, type HookType } from "./types.js";

/** Events that end an incident without a recovery, or say nothing about the target: no traffic moves on them. */
const NO_TRAFFIC_EVENTS: readonly HookEventType[] = [
  "partial.absorbed",
  "incident.abandoned",
  "check.deleted",
  "check.error",
  "check.error.resolved",
];

// check.deleted goes with an incident.abandoned, which already closes the incident at PagerDuty and
// Alertmanager: a second call would be a duplicate resolve (or a stray alert).
const NOTIFICATION_EVENTS: readonly HookEventType[] = HOOK_EVENT_TYPES.filter((e) => e !== "check.deleted");

/**
 * The event types each hook type can be subscribed to. Failover actions move traffic only on an
 * incident's opening and recovery: an abandoned incident (check deleted or replaced), an absorbed
 * partial or a prober error keeps the failed-over state.
 */
export const SUPPORTED_EVENTS: Readonly<Record<HookType, readonly HookEventType[]>> = {
  webhook: HOOK_EVENT_TYPES,
  pagerduty: NOTIFICATION_EVENTS,
  alertmanager: NOTIFICATION_EVENTS,
  slack: NOTIFICATION_EVENTS,
  haproxy: HOOK_EVENT_TYPES.filter((e) => !NO_TRAFFIC_EVENTS.includes(e)),
  powerdns: HOOK_EVENT_TYPES.filter((e) => !NO_TRAFFIC_EVENTS.includes(e)),
  rfc2136: HOOK_EVENT_TYPES.filter((e) => !NO_TRAFFIC_EVENTS.includes(e)),
};

const OUTAGE_ACTIONS: readonly HookEventType[] = ["outage.opened", "outage.resolved"];
const OUTAGE_NOTIFICATIONS: readonly HookEventType[] = [
  "outage.opened",
  "outage.resolved",
  "incident.abandoned",
  "check.error",
  "check.error.resolved",
];

/**
 * Events of a hook that names none. Actions and notifications (PagerDuty, Alertmanager) hear about
 * outages only; partial and degraded events are opt-in. A `webhook` is the raw feed: every event.
 */
export const DEFAULT_EVENTS: Readonly<Record<HookType, readonly HookEventType[]>> = {
  webhook: HOOK_EVENT_TYPES,
  pagerduty: OUTAGE_NOTIFICATIONS,
  alertmanager: OUTAGE_NOTIFICATIONS,
  slack: OUTAGE_NOTIFICATIONS,
  haproxy: OUTAGE_ACTIONS,
  powerdns: OUTAGE_ACTIONS,
  rfc2136: OUTAGE_ACTIONS,
};

/** True when hooks of `type` act on events of `event` (see {@link SUPPORTED_EVENTS}); test events go to every type. */
export function handles(type: HookType, event: HookEventType): boolean {
  return event === "test" || SUPPORTED_EVENTS[type].includes(event);
}

/**
 * The opening event whose incident `event` closes without a recovery, for the end of an incident
 * (`incident.abandoned`, `partial.absorbed`), or whose episode it ends (`check.error.resolved`);
 * undefined for other events.
 */
function openingOf(event: HookEvent): HookEventType | undefined {
  if (event.type === "check.error.resolved") return "check.error";
  if (event.type === "partial.absorbed") return "partial.opened";
  if (event.type === "incident.abandoned") return event.data.kind === "partial" ? "partial.opened" : "outage.opened";
  return undefined;
}

/**
 * True when an enabled hook is subscribed to `event` (its type and check) and its type acts on it
 * (a stored action hook listing `incident.abandoned` still never hears it); test events go to their one hook.
 * A PagerDuty or Alertmanager hook that heard an incident open also hears it end when it is abandoned
 * or absorbed, and one that heard `check.error` hears `check.error.resolved`, even if it does not list
 * that event (hooks stored before those events existed): a trigger must not stay open for ever.
 * A hook with a `selector` hears the checks whose labels (`labelsOf`) match it (see {@link selects}).
 */
export function wants(rec: HookRecord, event: HookEvent, labelsOf?: LabelsOf): boolean {
  if (rec.disabled) return false;
  if (event.type === "test") return true;
  const { type, events } = rec.hook;
  const opening = openingOf(event);
  const notification = type === "pagerduty" || type === "alertmanager" || type === "slack";
  const listed = events.includes(event.type) || (notification && opening !== undefined && events.includes(opening));
  if (!listed || !handles(type, event.type)) return false;
  if (rec.hook.checks.length > 0 && !rec.hook.checks.includes(event.data.checkId)) return false;
  return selects(rec.hook.selector, event.data.checkId, labelsOf);
}

/** The labels a check has (or had, for a check just deleted), or undefined when unknown. */
export type LabelsOf = (checkId: string) => Readonly<Record<string, string>> | undefined;

/**
 * True when a hook's `selector` picks the check: every key has the value in the check's labels.
 * An empty selector picks every check. Without `labelsOf` (a caller that cannot see labels: the
 * delivery worker re-judging an event already matched when it was enqueued) the selector is not judged.
 * A check whose labels are unknown is not picked by a non-empty selector.
 */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  checkId: string,
  labelsOf: LabelsOf | undefined,
): boolean {
  const wanted = Object.entries(selector ?? {});
  if (wanted.length === 0 || !labelsOf) return true;
  const labels = labelsOf(checkId);
  return labels !== undefined && wanted.every(([k, v]) => labels[k] === v);
}
