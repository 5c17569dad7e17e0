import { describe, expect, it } from "vitest";
import type { CheckStatus, Outage } from "../consensus/types.js";
import {
  belatedRecovery,
  hookEventFromTransition,
  hookEventsFromTransition,
  reannouncements,
} from "./from-transition.js";
import { validateEvent } from "./validate-event.js";

const outage: Outage = {
  id: "outage:web:1000",
  checkId: "web",
  kind: "outage",
  state: "open",
  startedAt: 500,
  confirmedAt: 1000,
  resolvedAt: null,
  regions: ["eu-west", "us-east"],
  reason: "connect",
};

const status: CheckStatus = {
  checkId: "web",
  state: "down",
  reason: "",
  since: 1000,
  outage,
  regions: {
    "eu-west": {
      state: "down",
      since: 600,
      lastResultAt: 900,
      impaired: false,
      impairedReason: "",
      lastReason: "connect",
      error: "",
      agents: [],
    },
    "us-east": {
      state: "down",
      since: 1000,
      lastResultAt: 950,
      impaired: false,
      impairedReason: "",
      lastReason: "connect",
      error: "",
      agents: [],
    },
    "ap-south": {
      state: "unknown",
      since: 0,
      lastResultAt: 0,
      impaired: false,
      impairedReason: "",
      lastReason: "",
      error: "",
      agents: [],
    },
  },
};

describe("hookEventFromTransition", () => {
  it("turns an opened outage into a valid event with a deterministic id", () => {
    const e = hookEventFromTransition({ type: "outage.opened", checkId: "web", at: 1000, outage }, status)!;
    expect(e).toEqual({
      id: "outage:web:1000:outage.opened",
      type: "outage.opened",
      timestamp: new Date(1000).toISOString(),
      data: {
        checkId: "web",
        outageId: "outage:web:1000",
        state: "down",
        regions: {
          "eu-west": { state: "down", since: 600 },
          "us-east": { state: "down", since: 1000 },
          "ap-south": { state: "unknown" },
        },
        startedAt: 500,
        confirmedAt: 1000,
        reason: "connect",
        kind: "outage",
      },
    });
    expect(validateEvent(e)).toEqual(e);
    // The same transition seen again (replica, replay) is the same event.
    expect(hookEventFromTransition({ type: "outage.opened", checkId: "web", at: 1000, outage }, status)?.id).toBe(e.id);
  });

  it("carries resolvedAt once resolved", () => {
    const resolved = { ...outage, state: "resolved" as const, resolvedAt: 5000 };
    const e = hookEventFromTransition(
      { type: "outage.resolved", checkId: "web", at: 5000, outage: resolved },
      { ...status, state: "up" },
    )!;
    expect(e.id).toBe("outage:web:1000:outage.resolved");
    expect(e.data).toMatchObject({ resolvedAt: 5000, state: "up" });
  });

  it("maps degraded and recovered, and ignores region and agent transitions", () => {
    expect(
      hookEventFromTransition({ type: "check.degraded", checkId: "web", at: 7, episode: "degraded:web:5" }, undefined),
    ).toMatchObject({
      id: "degraded:web:5:check.degraded",
      type: "check.degraded",
      data: { checkId: "web", state: "degraded", regions: {} },
    });
    expect(
      hookEventFromTransition(
        { type: "region.opened", checkId: "web", at: 1, outage: { ...outage, kind: "region" } },
        status,
      ),
    ).toBeUndefined();
    expect(
      hookEventFromTransition({ type: "agent.impaired", agentId: "a", region: "r", at: 1, reason: "x" }, status),
    ).toBeUndefined();
    expect(
      hookEventFromTransition({ type: "check.state", checkId: "web", from: "up", to: "down", at: 1 }, status),
    ).toBeUndefined();
  });
});

describe("transitions that end an incident without a recovery", () => {
  const abandoned: Outage = { ...outage, state: "abandoned", resolvedAt: 7000 };

  it("a deleted check's outage: incident.abandoned then check.deleted, ids from the incident (not the abandon time), state abandoned", () => {
    const t = {
      type: "incident.abandoned",
      checkId: "web",
      at: 7000,
      outage: abandoned,
      cause: "check.deleted",
    } as const;
    const events = hookEventsFromTransition(t, undefined);
    expect(events.map((e) => [e.id, e.type])).toEqual([
      ["outage:web:1000:incident.abandoned", "incident.abandoned"],
      ["outage:web:1000:check.deleted", "check.deleted"],
    ]);
    expect(events[0]).toMatchObject({
      timestamp: new Date(7000).toISOString(),
      data: {
        checkId: "web",
        outageId: "outage:web:1000",
        kind: "outage",
        state: "abandoned",
        cause: "check.deleted",
        startedAt: 500,
        confirmedAt: 1000,
        resolvedAt: 7000,
        // The check has no status any more: the incident's regions, with no verdict.
        regions: { "eu-west": { state: "unknown" }, "us-east": { state: "unknown" } },
      },
    });
    expect(events[1]!.data).toMatchObject({ state: "deleted", cause: "check.deleted", outageId: "outage:web:1000" });
    for (const e of events) expect(validateEvent(e)).toEqual(e);
    // Abandoned again at another time (another replica's warm-up): the same ids.
    expect(hookEventsFromTransition({ ...t, at: 9999 }, undefined).map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(hookEventFromTransition(t, undefined)?.type).toBe("incident.abandoned");
  });

  it("a replaced check: incident.abandoned only; a region interval: nothing", () => {
    const replaced = {
      type: "incident.abandoned",
      checkId: "web",
      at: 7000,
      outage: abandoned,
      cause: "check.replaced",
    } as const;
    expect(hookEventsFromTransition(replaced, status).map((e) => e.type)).toEqual(["incident.abandoned"]);
    expect(hookEventsFromTransition(replaced, status)[0]!.data).toMatchObject({
      cause: "check.replaced",
      state: "abandoned",
    });
    const region = { ...abandoned, id: "region:web:eu-west:600", kind: "region" as const };
    expect(hookEventsFromTransition({ ...replaced, outage: region }, status)).toEqual([]);
  });

  it("partial.absorbed names the outage; check.error carries the probers' message", () => {
    const partial: Outage = { ...outage, id: "partial:web:400", kind: "partial", state: "resolved", resolvedAt: 1000 };
    const absorbed = hookEventFromTransition(
      { type: "partial.absorbed", checkId: "web", at: 1000, outage: partial, by: "outage:web:1000" },
      status,
    )!;
    expect(absorbed).toMatchObject({
      id: "partial:web:400:partial.absorbed",
      type: "partial.absorbed",
      data: { outageId: "partial:web:400", kind: "partial", absorbedBy: "outage:web:1000", resolvedAt: 1000 },
    });
    const error = hookEventFromTransition(
      {
        type: "check.error",
        checkId: "web",
        at: 3000,
        episode: "error:web:2500",
        message: "internal: invalid check: bad regex",
      },
      { ...status, state: "unknown", reason: "error" },
    )!;
    expect(error).toMatchObject({
      id: "error:web:2500:check.error",
      type: "check.error",
      data: { checkId: "web", state: "unknown", reason: "error", message: "internal: invalid check: bad regex" },
    });
    for (const e of [absorbed, error]) expect(validateEvent(e)).toEqual(e);
  });

  it("check.error.resolved is keyed by the episode, whenever and wherever its end is noticed", () => {
    const episode = "error:web:2500";
    const ended = (at: number, cause: "verdict" | "check.deleted", s: typeof status | undefined) =>
      hookEventFromTransition({ type: "check.error.resolved", checkId: "web", at, since: 3000, episode, cause }, s)!;
    const byVerdict = ended(9000, "verdict", status);
    expect(byVerdict).toEqual({
      id: "error:web:2500:check.error.resolved",
      type: "check.error.resolved",
      timestamp: new Date(9000).toISOString(),
      data: expect.objectContaining({
        checkId: "web",
        state: status.state,
        startedAt: 3000,
        resolvedAt: 9000,
        cause: "verdict",
      }),
    });
    // A deletion noticed at different times by two replicas: one event id; the check has no status left.
    const deleted = [ended(9100, "check.deleted", undefined), ended(9200, "check.deleted", undefined)];
    expect(new Set(deleted.map((e) => e.id))).toEqual(new Set(["error:web:2500:check.error.resolved"]));
    expect(deleted[0]!.data).toMatchObject({ state: "deleted", regions: {}, cause: "check.deleted" });
    expect(
      hookEventsFromTransition(
        { type: "check.error.resolved", checkId: "web", at: 9000, since: 3000, episode, cause: "verdict" },
        status,
      ),
    ).toEqual([byVerdict]);
    for (const e of [byVerdict, ...deleted]) expect(validateEvent(e)).toEqual(e);
  });
});

describe("reannouncements", () => {
  it("repeats opened for open incidents and opened+resolved for resolved ones, with the original ids, skipping region intervals", () => {
    const partial: Outage = {
      ...outage,
      id: "partial:web:400",
      kind: "partial",
      confirmedAt: 400,
      state: "resolved",
      resolvedAt: 900,
    };
    const region: Outage = { ...outage, id: "region:web:eu-west:600", kind: "region" };
    const events = reannouncements([outage, partial, region], () => status);
    expect(events.map((e) => e.id)).toEqual([
      "outage:web:1000:outage.opened",
      "partial:web:400:partial.opened",
      "partial:web:400:partial.resolved",
    ]);
    expect(events[2]!.data.resolvedAt).toBe(900);
    expect(events[1]!.timestamp).toBe(new Date(400).toISOString());
  });

  it("never re-announces an abandoned incident as open: opened then incident.abandoned (and check.deleted when the check is gone)", () => {
    const abandoned: Outage = { ...outage, id: "outage:web:ab", state: "abandoned", resolvedAt: 5000 };
    const gone = reannouncements([abandoned], () => undefined).map((e) => e.type);
    expect(gone).toEqual(["outage.opened", "incident.abandoned", "check.deleted"]);
    const replaced = reannouncements([abandoned], () => status);
    expect(replaced.map((e) => e.type)).toEqual(["outage.opened", "incident.abandoned"]);
    expect(replaced[1]!.data).toMatchObject({ state: "abandoned", cause: "check.replaced" });
    // Confirmed before the dedupe window: only its end.
    const late = reannouncements([abandoned], () => undefined, { now: 10_000_000, dedupeWindowMs: 3_600_000 });
    expect(late.map((e) => e.type)).toEqual(["incident.abandoned", "check.deleted"]);
    expect(late.some((e) => e.type.endsWith(".resolved"))).toBe(false);
  });

  it("re-announces a partial closed when an outage of its check was confirmed as absorbed, never resolved", () => {
    const partial: Outage = {
      ...outage,
      id: "partial:web:400",
      kind: "partial",
      confirmedAt: 400,
      state: "resolved",
      resolvedAt: 1000,
    };
    const events = reannouncements([outage, partial], () => status);
    expect(events.map((e) => e.id)).toEqual([
      "outage:web:1000:outage.opened",
      "partial:web:400:partial.opened",
      "partial:web:400:partial.absorbed",
    ]);
    expect(events[2]!.data.absorbedBy).toBe("outage:web:1000");
  });

  it("leaves out the opened event of a resolved incident confirmed before the dedupe window (no page after the resolve)", () => {
    const hour = 3_600_000;
    const now = 10 * hour;
    // Opened 2 h ago, resolved 10 min ago: its opened event is past JetStream's dedupe window.
    const long: Outage = {
      ...outage,
      id: "outage:web:long",
      state: "resolved",
      confirmedAt: now - 2 * hour,
      resolvedAt: now - 600_000,
    };
    // Opened and resolved within the window: both may have been lost in a crash, and duplicates are dropped.
    const short: Outage = {
      ...outage,
      id: "outage:web:short",
      state: "resolved",
      confirmedAt: now - 1_800_000,
      resolvedAt: now - 600_000,
    };
    // Still open, however old: announced again (PagerDuty and consumers dedupe it while it is open).
    const open: Outage = { ...outage, id: "outage:web:open", confirmedAt: now - 5 * hour };
    const events = reannouncements([long, short, open], () => status, { now, dedupeWindowMs: hour });
    expect(events.map((e) => e.id)).toEqual([
      "outage:web:long:outage.resolved",
      "outage:web:short:outage.opened",
      "outage:web:short:outage.resolved",
      "outage:web:open:outage.opened",
    ]);
  });
});

describe("belatedRecovery", () => {
  const up: CheckStatus = { ...status, state: "up", since: 9000, outage: null };

  it("announces check.recovered for a marked check that is up, under the marked episode (same id on every replica and start)", () => {
    const episode = "degraded:web:0f1e2d3c:4000";
    const e = belatedRecovery("web", up, 20_000, episode);
    expect(e).toMatchObject({
      id: `${episode}:check.recovered`,
      type: "check.recovered",
      timestamp: new Date(9000).toISOString(),
      data: { checkId: "web", state: "up" },
    });
    expect(validateEvent(e)).toEqual(e);
    // The very event the engine would have made had it seen the recovery itself.
    expect(e).toEqual(hookEventFromTransition({ type: "check.recovered", checkId: "web", at: 9000, episode }, up));
    // Whenever it is noticed.
    expect(belatedRecovery("web", { ...up, since: 0 }, 20_000, episode)).toMatchObject({
      id: `${episode}:check.recovered`,
    });
  });

  it("keys the recovery of a mark from before episodes by when the check became up, as before", () => {
    expect(belatedRecovery("web", up, 20_000)).toMatchObject({ id: "web:check.recovered:9000" });
    // An up state with no known change time falls back to now.
    expect(belatedRecovery("web", { ...up, since: 0 }, 20_000)).toMatchObject({ id: "web:check.recovered:20000" });
  });

  it("forgets a check that no longer exists, and keeps waiting while it is degraded, down, partial or unknown", () => {
    expect(belatedRecovery("gone", undefined, 1)).toBe("forget");
    for (const state of ["degraded", "down", "partial", "unknown"] as const)
      expect(belatedRecovery("web", { ...up, state }, 1)).toBeUndefined();
  });
});
