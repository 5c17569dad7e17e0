import { describe, expect, it } from "vitest";
import { directionOf } from "./actions/types.js";
import { DEFAULT_EVENTS, handles, SUPPORTED_EVENTS, wants } from "./subscription.js";
import { ACTION_HOOK_TYPES, HOOK_EVENT_TYPES, type Hook, type HookEvent, type HookEventType } from "./types.js";

const NO_TRAFFIC: HookEventType[] = [
  "incident.abandoned",
  "check.deleted",
  "check.error",
  "check.error.resolved",
  "partial.absorbed",
];

function record(type: Hook["type"], events: HookEventType[]) {
  const hook = { id: "h", type, events, checks: [] } as unknown as Hook;
  return { hook, createdAt: 0, updatedAt: 0, revision: 1 };
}

function event(type: HookEventType): HookEvent {
  return {
    id: `x:${type}`,
    type,
    timestamp: new Date(0).toISOString(),
    data: { checkId: "web", state: "down", regions: {} },
  };
}

describe("subscriptions by hook type", () => {
  it("failover actions never hear of abandoned, absorbed, deleted or erroring checks, even when a stored hook lists them", () => {
    for (const type of ACTION_HOOK_TYPES) {
      for (const e of NO_TRAFFIC) {
        expect(handles(type, e)).toBe(false);
        expect(wants(record(type, [...HOOK_EVENT_TYPES]), event(e))).toBe(false);
      }
      expect(wants(record(type, [...DEFAULT_EVENTS[type]]), event("outage.opened"))).toBe(true);
      expect(DEFAULT_EVENTS[type]).toEqual(["outage.opened", "outage.resolved"]);
    }
  });

  it("those events move no traffic; recoveries fail back", () => {
    for (const e of NO_TRAFFIC) expect(directionOf(e)).toBe("none");
    expect(directionOf("outage.resolved")).toBe("failback");
    expect(directionOf("partial.opened")).toBe("failover");
  });

  it("notification hooks get outage events by default, partials only when listed, never check.deleted", () => {
    for (const type of ["pagerduty", "alertmanager"] as const) {
      const byDefault = record(type, [...DEFAULT_EVENTS[type]]);
      expect(wants(byDefault, event("incident.abandoned"))).toBe(true);
      expect(wants(byDefault, event("check.error"))).toBe(true);
      expect(wants(byDefault, event("check.error.resolved"))).toBe(true);
      expect(wants(byDefault, event("partial.opened"))).toBe(false);
      expect(wants(byDefault, event("partial.absorbed"))).toBe(false);
      expect(wants(record(type, ["partial.opened", "partial.absorbed"]), event("partial.absorbed"))).toBe(true);
      expect(SUPPORTED_EVENTS[type]).not.toContain("check.deleted");
    }
    expect(wants(record("webhook", [...DEFAULT_EVENTS.webhook]), event("check.deleted"))).toBe(true);
  });

  it("a notification hook that heard an incident open hears it end, even with a list from before these events", () => {
    // The old default list of every type before incident.abandoned and partial.absorbed existed.
    const old: HookEventType[] = [
      "outage.opened",
      "outage.resolved",
      "partial.opened",
      "partial.resolved",
      "check.degraded",
      "check.recovered",
    ];
    const partialEnd = {
      ...event("incident.abandoned"),
      data: { ...event("incident.abandoned").data, kind: "partial" },
    };
    for (const type of ["pagerduty", "alertmanager"] as const) {
      expect(wants(record(type, old), event("incident.abandoned"))).toBe(true);
      expect(wants(record(type, old), event("partial.absorbed"))).toBe(true);
      expect(wants(record(type, ["outage.opened"]), partialEnd)).toBe(false);
      expect(wants(record(type, ["partial.opened"]), partialEnd)).toBe(true);
      expect(wants(record(type, old), event("check.error"))).toBe(false);
      // One stored with check.error before its end event existed still hears the episode end.
      expect(wants(record(type, ["outage.opened", "check.error"]), event("check.error.resolved"))).toBe(true);
      expect(wants(record(type, old), event("check.error.resolved"))).toBe(false);
    }
    // Webhook consumers and actions get only what they list.
    expect(wants(record("webhook", old), event("incident.abandoned"))).toBe(false);
    expect(wants(record("haproxy", old), event("incident.abandoned"))).toBe(false);
  });
});
