import type { HookEvent, PagerdutyOptions } from "../types.js";
import { postSigned, pushOnlyVerify } from "./http-post.js";
import { directionOf, type HookAdapter } from "./types.js";

/** The PagerDuty Events API v2 body for an event: trigger on failover/test, resolve on failback. */
export function pagerdutyPayload(event: HookEvent, opts: PagerdutyOptions): Record<string, unknown> {
  const dir = directionOf(event.type);
  // dedup_key = outage id, so the trigger and the resolve of one outage address the same incident.
  const dedupKey = event.data.outageId ?? `${event.data.checkId}:${event.type.split(".")[0] ?? event.type}`;
  if (dir === "failback") return { routing_key: opts.routingKey, event_action: "resolve", dedup_key: dedupKey };
  const severity = event.type === "test" ? "info" : event.type === "outage.opened" ? opts.severity : "warning";
  const regions = Object.entries(event.data.regions)
    .map(([r, s]) => `${r}=${s.state}`)
    .join(", ");
  return {
    routing_key: opts.routingKey,
    event_action: "trigger",
    dedup_key: dedupKey,
    payload: {
      summary:
        `${event.type === "test" ? "probemesh test event" : `${event.type}: check ${event.data.checkId} is ${event.data.state}`}${regions ? ` (${regions})` : ""}`.slice(
          0,
          1024,
        ),
      source: opts.source,
      severity,
      timestamp: event.timestamp,
      component: event.data.checkId,
      group: "probemesh",
      class: event.type,
      custom_details: { eventId: event.id, ...event.data },
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
      return result;
    },
    verify: (event) => pushOnlyVerify(`PagerDuty ${directionOf(event.type) === "failback" ? "resolve" : "trigger"}`),
  };
}
