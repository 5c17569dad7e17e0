import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { HookEvent, HookEventType } from "../hooks/types.js";
import { createMaintenanceGate } from "./hook-gate.js";
import type { MaintenanceWindow } from "./types.js";

const M = 60_000;
const log = pino({ level: "silent" });
const window: MaintenanceWindow = { id: "upgrade", checks: ["web"], from: 10 * M, to: 20 * M };

function event(type: HookEventType, confirmedAt: number, at: number, resolvedAt?: number, checkId = "web"): HookEvent {
  const outageId = `outage:${checkId}:${confirmedAt}`;
  return {
    id: `${outageId}:${type}`,
    type,
    timestamp: new Date(at).toISOString(),
    data: {
      checkId,
      outageId,
      kind: "outage",
      state: "down",
      regions: {},
      startedAt: confirmedAt - 1000,
      confirmedAt,
      ...(resolvedAt !== undefined ? { resolvedAt } : {}),
    },
  };
}

function gate(windows: MaintenanceWindow[] = [window]) {
  return createMaintenanceGate({ windows: () => windows, log });
}

describe("the maintenance gate", () => {
  it("holds an outage opened inside a window and announces it at the end if still open, same id", () => {
    const g = gate();
    const opened = event("outage.opened", 12 * M, 12 * M);
    expect(g.filter([opened], 12 * M)).toEqual([]);
    expect(g.release(19 * M, () => true)).toEqual([]);
    const released = g.release(20 * M + 500, () => true);
    expect(released).toEqual([{ ...opened, timestamp: new Date(20 * M).toISOString() }]);
    expect(g.stats()).toMatchObject({ released: 1, held: 0 });
    // Its recovery after the window is announced.
    const resolved = event("outage.resolved", 12 * M, 30 * M, 30 * M);
    expect(g.filter([resolved], 30 * M)).toEqual([resolved]);
  });

  it("announces nothing of an outage opened and resolved inside the window", () => {
    const g = gate();
    expect(g.filter([event("outage.opened", 12 * M, 12 * M)], 12 * M)).toEqual([]);
    expect(g.filter([event("outage.resolved", 12 * M, 15 * M, 15 * M)], 15 * M)).toEqual([]);
    expect(g.release(25 * M, () => false)).toEqual([]);
    expect(g.stats()).toMatchObject({ suppressed: 1, released: 0, held: 0 });
  });

  it("keeps every announcement of an outage opened before the window", () => {
    const g = gate();
    const opened = event("outage.opened", 5 * M, 5 * M);
    const resolved = event("outage.resolved", 5 * M, 15 * M, 15 * M);
    expect(g.filter([opened], 5 * M)).toEqual([opened]);
    expect(g.filter([resolved], 15 * M)).toEqual([resolved]);
  });

  it("sends the held opening before an end that comes after the window, even if not yet released", () => {
    const g = gate();
    const opened = event("outage.opened", 12 * M, 12 * M);
    g.filter([opened], 12 * M);
    expect(g.release(20 * M, () => false)).toEqual([]);
    const resolved = event("outage.resolved", 12 * M, 20 * M + 100, 20 * M + 100);
    expect(g.filter([resolved], 20 * M + 200).map((e) => e.id)).toEqual([opened.id, resolved.id]);
  });

  it("follows back-to-back windows, and releases at once when the window is deleted", () => {
    const windows = [window, { ...window, id: "more", from: 20 * M, to: 30 * M }];
    const g = gate(windows);
    g.filter([event("outage.opened", 12 * M, 12 * M)], 12 * M);
    expect(g.release(25 * M, () => true)).toEqual([]);
    windows.length = 0;
    expect(g.release(25 * M, () => true).map((e) => e.timestamp)).toEqual([new Date(25 * M).toISOString()]);
  });

  it("drops check.error inside a window, leaves other checks and degraded events alone", () => {
    const g = gate();
    const error: HookEvent = {
      id: "web:check.error:660000",
      type: "check.error",
      timestamp: new Date(11 * M).toISOString(),
      data: { checkId: "web", state: "unknown", regions: {}, reason: "error" },
    };
    expect(g.filter([error], 11 * M)).toEqual([]);
    const degraded: HookEvent = { ...error, id: "d", type: "check.degraded" };
    expect(g.filter([degraded], 11 * M)).toEqual([degraded]);
    const other = event("outage.opened", 12 * M, 12 * M, undefined, "api");
    expect(g.filter([other], 12 * M)).toEqual([other]);
  });

  it("re-announcements at a start: a closed incident's opening inside the window stays silent", () => {
    const g = gate();
    expect(g.filter([event("outage.opened", 12 * M, 12 * M, 15 * M)], 40 * M)).toEqual([]);
    const stillOpen = event("outage.opened", 13 * M, 13 * M);
    expect(g.filter([stillOpen], 40 * M)).toEqual([{ ...stillOpen, timestamp: new Date(20 * M).toISOString() }]);
  });
});

describe("the maintenance gate tells what it holds back (GET /v1/events)", () => {
  it("each held or dropped event once per filter, with its window; nothing of what passes", () => {
    const g = gate();
    const held: [string, unknown][] = [];
    const onHeld = (e: HookEvent, by: unknown) => void held.push([e.id, by]);
    const before = event("outage.opened", 5 * M, 5 * M);
    expect(g.filter([before], 5 * M, onHeld)).toEqual([before]);
    const opened = event("outage.opened", 12 * M, 12 * M);
    expect(g.filter([opened], 12 * M, onHeld)).toEqual([]);
    // A re-announcement of the same opening is held again (same id: the stream keeps one).
    expect(g.filter([opened], 13 * M, onHeld)).toEqual([]);
    expect(g.filter([event("outage.resolved", 12 * M, 15 * M, 15 * M)], 15 * M, onHeld)).toEqual([]);
    const error: HookEvent = {
      id: "web:check.error:660000",
      type: "check.error",
      timestamp: new Date(11 * M).toISOString(),
      data: { checkId: "web", state: "unknown", regions: {}, reason: "error" },
    };
    expect(g.filter([error], 11 * M, onHeld)).toEqual([]);
    const by = { by: "maintenance", windowId: "upgrade" };
    expect(held).toEqual([
      [opened.id, by],
      [opened.id, by],
      ["outage:web:720000:outage.resolved", by],
      [error.id, by],
    ]);
  });
});

describe("the maintenance gate with windows selecting by labels", () => {
  it("holds the openings of checks whose labels match, now", () => {
    const byLabel: MaintenanceWindow = {
      id: "pay",
      checks: [],
      labels: { team: "payments" },
      from: 10 * M,
      to: 20 * M,
    };
    const labels: Record<string, Record<string, string>> = { web: { team: "payments" } };
    const g = createMaintenanceGate({ windows: () => [byLabel], labelsOf: (id) => labels[id], log });
    expect(g.filter([event("outage.opened", 12 * M, 12 * M)], 12 * M)).toEqual([]);
    const other = event("outage.opened", 12 * M, 12 * M, undefined, "api");
    expect(g.filter([other], 12 * M)).toEqual([other]);
    expect(g.release(20 * M, () => true)).toHaveLength(1);
  });
});
