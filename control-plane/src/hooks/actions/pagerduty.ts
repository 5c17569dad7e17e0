import type { HookEvent, PagerdutyOptions } from "../types.js";
import { postSigned, pushOnlyVerify } from "./http-post.js";
import { directionOf, endNote, type HookAdapter } from "./types.js";

/** What PagerDuty is told for an event type: open or close an incident, or nothing. */
export function pagerdutyAction(type: HookEvent["type"]): "trigger" | "resolve" | undefined {
  // An abandoned or absorbed incident ends at PagerDuty too (its trigger must not stay open), with a note.
  if (type === "incident.abandoned" || type === "partial.absorbed") return "resolve";
  // incident.abandoned already resolved the incident of a deleted check.
  if (type === "check.deleted") return undefined;
  if (type === "check.error") return "trigger";
  if (type === "check.error.resolved") return "resolve";
  return directionOf(type) === "failback" ? "resolve" : "trigger";
}

/**
 * The PagerDuty Events API v2 body for an event, or undefined when nothing is sent: trigger on
 * failover, test and `check.error`; resolve on failback, `incident.abandoned`, `partial.absorbed` and
 * `check.error.resolved`. `dedup_key` is the incident (outage) id, so the trigger and the resolve
 * address one PagerDuty incident; a check's prober errors share `<checkId>:check.error` (one open
 * incident per check, which `check.error.resolved` closes).
 */
export function pagerdutyPayload(event: HookEvent, opts: PagerdutyOptions): Record<string, unknown> | undefined {
  const act = pagerdutyAction(event.type);
  if (!act) return undefined;
  const d = event.data;
  const dedupKey =
    event.type === "check.error" || event.type === "check.error.resolved"
      ? `${d.checkId}:check.error`
      : (d.outageId ?? `${d.checkId}:${event.type.split(".")[0] ?? event.type}`);
  const note = endNote(event);
  if (act === "resolve") {
    const base = { routing_key: opts.routingKey, event_action: "resolve", dedup_key: dedupKey };
    if (!note) return base;
    // PagerDuty needs no payload to resolve; this one records why the incident ended.
    return {
      ...base,
      payload: {
        summary: `${event.type}: ${note}`.slice(0, 1024),
        source: opts.source,
        severity: "info",
        timestamp: event.timestamp,
        component: d.checkId,
        group: "probemesh",
        class: event.type,
        custom_details: { eventId: event.id, ...d },
      },
    };
  }
  const severity = event.type === "test" ? "info" : event.type === "outage.opened" ? opts.severity : "warning";
  const regions = Object.entries(d.regions)
    .map(([r, s]) => `${r}=${s.state}`)
    .join(", ");
  const what =
    event.type === "test"
      ? "probemesh test event"
      : event.type === "check.error"
        ? `check.error: check ${d.checkId} cannot be probed from any vantage point: ${d.message ?? ""}`
        : `${event.type}: check ${d.checkId} is ${d.state}`;
  return {
    routing_key: opts.routingKey,
    event_action: "trigger",
    dedup_key: dedupKey,
    payload: {
      summary: `${what}${regions ? ` (${regions})` : ""}`.slice(0, 1024),
      source: opts.source,
      severity,
      timestamp: event.timestamp,
      component: d.checkId,
      group: "probemesh",
      class: event.type,
      custom_details: { eventId: event.id, ...d },
    },
  };
}

/** `pagerduty`: PagerDuty Events API v2 (trigger / resolve, dedup_key = outage id). */
export function createPagerdutyAdapter(): HookAdapter {
  return {
    type: "pagerduty",
    readBack: false,
    async apply(event, hook, ctx) {
      if (!hook.pagerduty) return { ok: false, action: "pagerduty", refused: "hook has no pagerduty options" };
      const payload = pagerdutyPayload(event, hook.pagerduty);
      if (!payload) return { ok: true, action: `nothing to send to PagerDuty for ${event.type}` };
      const action = `${String(payload.event_action)} PagerDuty incident ${String(payload.dedup_key)}`;
      const { body, ...result } = await postSigned(hook, payload, ctx, action);
      if (result.ok && body) {
        // PagerDuty answers 202 {"status":"success","dedup_key":...}: read it back as the confirmation.
        try {
          const parsed = JSON.parse(body) as { status?: unknown; dedup_key?: unknown };
          result.verified = parsed.status === "success" && parsed.dedup_key === payload.dedup_key;
          result.observed = `status=${String(parsed.status)} dedup_key=${String(parsed.dedup_key)}`;
        } catch {
          result.verified = false;
        }
      }
      if (result.ok && !result.dryRun && event.type === "test") {
        // A test must not leave an open incident: resolve it at once (a failure retries both, idempotently).
        const resolve = {
          routing_key: hook.pagerduty.routingKey,
          event_action: "resolve",
          dedup_key: payload.dedup_key,
        };
        const { body: _b, ...resolved } = await postSigned(
          hook,
          resolve,
          ctx,
          `resolve PagerDuty incident ${String(payload.dedup_key)}`,
        );
        if (!resolved.ok) return { ...resolved, action: `${action}, then ${resolved.action}` };
        result.action = `${action}, then resolve it`;
      }
      return result;
    },
    verify: (event) => pushOnlyVerify(`PagerDuty ${pagerdutyAction(event.type) ?? "nothing"}`),
  };
}
