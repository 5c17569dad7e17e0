import { describe, expect, it } from "vitest";
import type { HookEvent } from "../types.js";
import { ALERT_HOLD_MS, alertmanagerApiPayload, alertmanagerPayload, isAlertmanagerApi } from "./alertmanager.js";
import { pagerdutyPayload } from "./pagerduty.js";

const PD = { routingKey: "R0UTING", severity: "critical", source: "probemesh" } as const;
const AM = { labels: { team: "sre" }, receiver: "probemesh" };
const regions = { "eu-west": { state: "down", since: 600 }, "us-east": { state: "down", since: 900 } };
const base = {
  checkId: "web",
  outageId: "outage:web:1000",
  kind: "outage",
  regions,
  startedAt: 500,
  confirmedAt: 1000,
  reason: "connect",
};

const opened: HookEvent = {
  id: "outage:web:1000:outage.opened",
  type: "outage.opened",
  timestamp: new Date(1000).toISOString(),
  data: { ...base, state: "down" },
};
const abandoned: HookEvent = {
  id: "outage:web:1000:incident.abandoned",
  type: "incident.abandoned",
  timestamp: new Date(7000).toISOString(),
  data: { ...base, state: "abandoned", resolvedAt: 7000, cause: "check.deleted" },
};
const absorbed: HookEvent = {
  id: "partial:web:400:partial.absorbed",
  type: "partial.absorbed",
  timestamp: new Date(1000).toISOString(),
  data: {
    ...base,
    outageId: "partial:web:400",
    kind: "partial",
    state: "down",
    resolvedAt: 1000,
    absorbedBy: "outage:web:1000",
  },
};
const error: HookEvent = {
  id: "web:check.error:3000",
  type: "check.error",
  timestamp: new Date(3000).toISOString(),
  data: { checkId: "web", state: "unknown", regions: {}, reason: "error", message: "internal: bad regex" },
};
const errorResolved: HookEvent = {
  id: "web:check.error.resolved:3000",
  type: "check.error.resolved",
  timestamp: new Date(9000).toISOString(),
  data: { checkId: "web", state: "up", regions: {}, startedAt: 3000, resolvedAt: 9000, cause: "verdict" },
};
const deleted: HookEvent = { ...abandoned, id: "outage:web:1000:check.deleted", type: "check.deleted" };

describe("pagerdutyPayload", () => {
  it("one dedup_key per incident: the trigger and the abandon's resolve share the outage id; the resolve notes it was not a recovery", () => {
    const trigger = pagerdutyPayload(opened, PD)!;
    const resolve = pagerdutyPayload(abandoned, PD)!;
    expect(trigger).toMatchObject({ event_action: "trigger", dedup_key: "outage:web:1000" });
    expect(resolve).toMatchObject({ event_action: "resolve", dedup_key: "outage:web:1000" });
    expect(resolve.payload).toMatchObject({
      summary: "incident.abandoned: abandoned, not recovered: check web was deleted",
      custom_details: { cause: "check.deleted", state: "abandoned" },
    });
    expect(
      (
        pagerdutyPayload({ ...abandoned, data: { ...abandoned.data, cause: "check.replaced" } }, PD)!.payload as {
          summary: string;
        }
      ).summary,
    ).toContain("what check web probes changed");
  });

  it("an absorbed partial resolves the partial's incident; check.deleted sends nothing (no second resolve)", () => {
    expect(pagerdutyPayload(absorbed, PD)).toMatchObject({ event_action: "resolve", dedup_key: "partial:web:400" });
    expect(pagerdutyPayload(deleted, PD)).toBeUndefined();
  });

  it("check.error triggers a warning with one dedup_key per check", () => {
    expect(pagerdutyPayload(error, PD)).toMatchObject({
      event_action: "trigger",
      dedup_key: "web:check.error",
      payload: { severity: "warning", summary: expect.stringContaining("cannot be probed") },
    });
  });

  it("check.error.resolved resolves the check's error incident (same dedup_key as its trigger)", () => {
    const trigger = pagerdutyPayload(error, PD)!;
    expect(pagerdutyPayload(errorResolved, PD)).toEqual({
      routing_key: "R0UTING",
      event_action: "resolve",
      dedup_key: trigger.dedup_key,
    });
  });
});

describe("alertmanagerPayload", () => {
  it("an abandoned incident ends the incident's alert (same labels) with endsAt and a resolution annotation", () => {
    const firing = alertmanagerPayload(opened, AM);
    const ended = alertmanagerPayload(abandoned, AM);
    const [f] = firing.alerts as Record<string, unknown>[];
    const [e] = ended.alerts as Record<string, unknown>[];
    expect(ended.status).toBe("resolved");
    expect(e!.labels).toEqual(f!.labels);
    expect(e!.fingerprint).toBe(f!.fingerprint);
    expect(e!.endsAt).toBe(new Date(7000).toISOString());
    expect(e!.annotations).toMatchObject({ resolution: "abandoned, not recovered: check web was deleted" });
  });

  it("an absorbed partial ends the partial alert; check.error fires its own alert", () => {
    const [p] = alertmanagerPayload(absorbed, AM).alerts as Record<string, Record<string, string>>[];
    expect(p!.labels).toMatchObject({ alertname: "ProbemeshPartialOutage", outage_id: "partial:web:400" });
    expect(p!.status).toBe("resolved");
    const err = alertmanagerPayload(error, AM);
    const [a] = err.alerts as Record<string, Record<string, string> | string>[];
    expect(err.status).toBe("firing");
    expect(a!.labels).toMatchObject({ alertname: "ProbemeshCheckError", severity: "warning", check: "web" });
    expect(a!.endsAt).toBe("0001-01-01T00:00:00Z");
    expect(a!.annotations).toMatchObject({ message: "internal: bad regex" });
  });

  it("check.error.resolved ends the ProbemeshCheckError alert (same labels and fingerprint) at resolvedAt", () => {
    const [f] = alertmanagerPayload(error, AM).alerts as Record<string, unknown>[];
    const ended = alertmanagerPayload(errorResolved, AM);
    const [e] = ended.alerts as Record<string, unknown>[];
    expect(ended.status).toBe("resolved");
    expect(e!.status).toBe("resolved");
    expect(e!.labels).toEqual(f!.labels);
    expect(e!.fingerprint).toBe(f!.fingerprint);
    expect(e!.startsAt).toBe(f!.startsAt);
    expect(e!.endsAt).toBe(new Date(9000).toISOString());
  });
});

describe("alertmanager API (POST /api/v2/alerts)", () => {
  it("is chosen by the URL; firing holds 7 days ahead, the resolve has the same labels and the real end", () => {
    expect(isAlertmanagerApi("http://am:9093/api/v2/alerts")).toBe(true);
    expect(isAlertmanagerApi("http://am:9093/api/v2/alerts/")).toBe(true);
    expect(isAlertmanagerApi("http://receiver/alerts")).toBe(false);
    const opts = { labels: { team: "web" }, receiver: "probemesh" };
    const data = { checkId: "web", outageId: "o1", state: "down", regions: {}, startedAt: 1000 };
    const now = 1_767_225_600_000;
    const [firing] = alertmanagerApiPayload(
      { id: "o1:outage.opened", type: "outage.opened", timestamp: new Date(now).toISOString(), data },
      opts,
      now,
    );
    const [resolved] = alertmanagerApiPayload(
      {
        id: "o1:outage.resolved",
        type: "outage.resolved",
        timestamp: new Date(now).toISOString(),
        data: { ...data, state: "up", resolvedAt: now },
      },
      opts,
      now,
    );
    expect(firing?.endsAt).toBe(new Date(now + ALERT_HOLD_MS).toISOString());
    expect(resolved?.endsAt).toBe(new Date(now).toISOString());
    expect(resolved?.labels).toEqual(firing?.labels);
    expect(firing?.labels).toMatchObject({ alertname: "ProbemeshOutage", check: "web", team: "web" });
  });
});
