import type { AlertmanagerOptions, HookEvent } from "../types.js";
import { postSigned, pushOnlyVerify } from "./http-post.js";
import { directionOf, type HookAdapter } from "./types.js";

// Alertmanager writes "0001-01-01T00:00:00Z" as the end of a firing alert.
const ZERO_TIME = "0001-01-01T00:00:00Z";

/** The Alertmanager webhook body (version "4") for an event: firing on failover/test, resolved on failback. */
export function alertmanagerPayload(event: HookEvent, opts: AlertmanagerOptions): Record<string, unknown> {
  const resolved = directionOf(event.type) === "failback";
  const status = resolved ? "resolved" : "firing";
  const family = event.type === "test" ? "test" : (event.type.split(".")[0] ?? event.type);
  const alertname =
    {
      outage: "ProbemeshOutage",
      partial: "ProbemeshPartialOutage",
      check: "ProbemeshCheckDegraded",
      test: "ProbemeshTest",
    }[family] ?? "Probemesh";
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
      summary: `check ${event.data.checkId} is ${event.data.state}`,
      description: Object.entries(event.data.regions)
        .map(([r, s]) => `${r}: ${s.state}`)
        .join(", "),
      ...(event.data.reason ? { reason: event.data.reason } : {}),
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

/** `alertmanager`: POSTs Alertmanager webhook (v4) payloads, for receivers built for Alertmanager. */
export function createAlertmanagerAdapter(): HookAdapter {
  return {
    type: "alertmanager",
    readBack: false,
    async apply(event, hook, ctx) {
      const opts = hook.alertmanager ?? { labels: {}, receiver: "probemesh" };
      const payload = alertmanagerPayload(event, opts);
      const { body: _body, ...result } = await postSigned(
        hook,
        payload,
        ctx,
        `POST ${String(payload.status)} alert for ${event.data.checkId}`,
      );
      return result;
    },
    verify: (event) => pushOnlyVerify(`POST alert for ${event.data.checkId}`),
  };
}
