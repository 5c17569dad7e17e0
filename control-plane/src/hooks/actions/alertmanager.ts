import type { AlertmanagerOptions, HookEvent } from "../types.js";
import { postSigned, pushOnlyVerify } from "./http-post.js";
import { directionOf, endNote, type HookAdapter } from "./types.js";

// Alertmanager writes "0001-01-01T00:00:00Z" as the end of a firing alert.
const ZERO_TIME = "0001-01-01T00:00:00Z";

/** The alert an event is about: the incident's kind, a degradation, a prober error or a test. */
function familyOf(event: HookEvent): "outage" | "partial" | "degraded" | "error" | "test" {
  const t = event.type;
  if (t === "test") return "test";
  if (t === "check.error" || t === "check.error.resolved") return "error";
  if (t === "check.degraded" || t === "check.recovered") return "degraded";
  if (t.startsWith("outage.")) return "outage";
  if (t.startsWith("partial.")) return "partial";
  // incident.abandoned / check.deleted: the alert of the incident they close.
  return event.data.kind === "partial" ? "partial" : "outage";
}

const ALERT_NAMES = {
  outage: "ProbemeshOutage",
  partial: "ProbemeshPartialOutage",
  degraded: "ProbemeshCheckDegraded",
  error: "ProbemeshCheckError",
  test: "ProbemeshTest",
} as const;

/**
 * The Alertmanager webhook body (version "4") for an event: firing on failover, test and
 * `check.error`; resolved (with `endsAt`) on failback, `incident.abandoned` and `partial.absorbed`,
 * whose alert keeps the labels of the incident's firing alert and says in `annotations.resolution`
 * that it ended without a recovery, and on `check.error.resolved` (the `ProbemeshCheckError` alert).
 */
export function alertmanagerPayload(event: HookEvent, opts: AlertmanagerOptions): Record<string, unknown> {
  const note = endNote(event);
  const resolved =
    note !== undefined || event.type === "check.error.resolved" || directionOf(event.type) === "failback";
  const status = resolved ? "resolved" : "firing";
  const family = familyOf(event);
  const alertname = ALERT_NAMES[family];
  const labels: Record<string, string> = {
    ...opts.labels,
    alertname,
    check: event.data.checkId,
    severity: family === "outage" ? "critical" : family === "test" ? "info" : "warning",
    ...(event.data.outageId ? { outage_id: event.data.outageId } : {}),
  };
  const startedAt = event.data.startedAt ?? event.data.confirmedAt;
  const alert = {
    status,
    labels,
    annotations: {
      summary:
        family === "error"
          ? `check ${event.data.checkId} cannot be probed from any vantage point`
          : `check ${event.data.checkId} is ${event.data.state}`,
      description: Object.entries(event.data.regions)
        .map(([r, s]) => `${r}: ${s.state}`)
        .join(", "),
      ...(event.data.reason ? { reason: event.data.reason } : {}),
      ...(event.data.message ? { message: event.data.message } : {}),
      ...(note ? { resolution: note } : {}),
    },
    startsAt: startedAt !== undefined ? new Date(startedAt).toISOString() : event.timestamp,
    endsAt: resolved
      ? event.data.resolvedAt !== undefined
        ? new Date(event.data.resolvedAt).toISOString()
        : event.timestamp
      : ZERO_TIME,
    generatorURL: "",
    fingerprint: Buffer.from(`${alertname}:${event.data.checkId}:${event.data.outageId ?? ""}`)
      .toString("hex")
      .slice(0, 16),
  };
  const groupLabels = { alertname, check: event.data.checkId };
  return {
    version: "4",
    groupKey: `{}:{alertname="${alertname}", check="${event.data.checkId}"}`,
    truncatedAlerts: 0,
    status,
    receiver: opts.receiver,
    groupLabels,
    commonLabels: labels,
    commonAnnotations: alert.annotations,
    externalURL: "",
    alerts: [alert],
  };
}

/** How long a firing alert pushed to Alertmanager's API stays active without being sent again (its `endsAt`). */
export const ALERT_HOLD_MS = 7 * 86_400_000;

/** True when the hook's URL is Alertmanager's own alerts API (`…/api/v2/alerts`), not a webhook receiver. */
export function isAlertmanagerApi(url: string): boolean {
  try {
    return new URL(url).pathname.replace(/\/+$/, "").endsWith("/api/v2/alerts");
  } catch {
    return false;
  }
}

/**
 * The body of `POST /api/v2/alerts` for an event: the webhook payload's one alert as a postable alert.
 * Firing: `endsAt` {@link ALERT_HOLD_MS} ahead (Alertmanager would resolve an alert nobody sends again
 * after its `resolve_timeout`); resolved: the same labels with the real `endsAt`, which ends it.
 */
export function alertmanagerApiPayload(
  event: HookEvent,
  opts: AlertmanagerOptions,
  now: number,
): Record<string, unknown>[] {
  const payload = alertmanagerPayload(event, opts) as { alerts: Record<string, unknown>[] };
  return payload.alerts.map(({ status, labels, annotations, startsAt, endsAt }) => ({
    labels,
    annotations,
    startsAt,
    endsAt: status === "firing" ? new Date(now + ALERT_HOLD_MS).toISOString() : endsAt,
    generatorURL: "",
  }));
}

/**
 * `alertmanager`: POSTs to Alertmanager's API (`POST /api/v2/alerts`, when the URL ends so), or
 * Alertmanager webhook (v4) payloads, for receivers built for Alertmanager.
 */
export function createAlertmanagerAdapter(): HookAdapter {
  return {
    type: "alertmanager",
    readBack: false,
    async apply(event, hook, ctx) {
      // The incident.abandoned sent with it already resolved the incident's alert.
      if (event.type === "check.deleted")
        return { ok: true, action: "nothing to send to Alertmanager for check.deleted" };
      const opts = hook.alertmanager ?? { labels: {}, receiver: "probemesh" };
      if (isAlertmanagerApi(hook.url)) {
        const alerts = alertmanagerApiPayload(event, opts, ctx.now());
        const firing = alerts.every((a) => a.endsAt !== undefined && Date.parse(String(a.endsAt)) > ctx.now());
        const action = `POST ${firing ? "firing" : "resolved"} alert for ${event.data.checkId} to Alertmanager`;
        const { body: _b, ...result } = await postSigned(hook, alerts, ctx, action);
        if (!result.ok || result.dryRun || event.type !== "test") return result;
        // A test must not leave an alert firing: the same alert ends at once.
        const ended = alerts.map((a) => ({ ...a, endsAt: new Date(ctx.now()).toISOString() }));
        const { body: _e, ...resolved } = await postSigned(hook, ended, ctx, "POST its resolution");
        return resolved.ok ? { ...result, action: `${action}, then its resolution` } : resolved;
      }
      const payload = alertmanagerPayload(event, opts);
      const action = `POST ${String(payload.status)} alert for ${event.data.checkId}`;
      const { body: _body, ...result } = await postSigned(hook, payload, ctx, action);
      if (!result.ok || result.dryRun || event.type !== "test") return result;
      // A test must not leave an alert firing: the same alert, resolved, follows.
      const end = new Date(ctx.now()).toISOString();
      const alerts = (payload.alerts as Record<string, unknown>[]).map((a) => ({
        ...a,
        status: "resolved",
        endsAt: end,
      }));
      const { body: _e, ...resolved } = await postSigned(
        hook,
        { ...payload, status: "resolved", alerts },
        ctx,
        "POST its resolution",
      );
      return resolved.ok ? { ...result, action: `${action}, then its resolution` } : resolved;
    },
    verify: (event) => pushOnlyVerify(`POST alert for ${event.data.checkId}`),
  };
}
