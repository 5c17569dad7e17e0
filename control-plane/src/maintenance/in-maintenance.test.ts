import { describe, expect, it } from "vitest";
import { inMaintenance, inMaintenanceOccurrence, maintenanceEnd, maintenanceIntervals } from "./in-maintenance.js";
import type { MaintenanceWindow } from "./types.js";

const H = 3_600_000;
const once: MaintenanceWindow = { id: "once", checks: ["web"], from: 10 * H, to: 12 * H };
const weekly: MaintenanceWindow = {
  id: "weekly",
  checks: "*",
  from: 100 * H,
  to: 101 * H,
  repeat: { everyMs: 168 * H },
};

describe("inMaintenance", () => {
  it("covers [from, to) of the checks it names", () => {
    expect(inMaintenance([once], "web", 10 * H)).toBe(once);
    expect(inMaintenance([once], "web", 12 * H - 1)).toBe(once);
    expect(inMaintenance([once], "web", 12 * H)).toBeUndefined();
    expect(inMaintenance([once], "web", 10 * H - 1)).toBeUndefined();
    expect(inMaintenance([once], "api", 11 * H)).toBeUndefined();
  });

  it('"*" covers every check', () => {
    expect(inMaintenance([weekly], "anything", 100 * H)).toBe(weekly);
  });

  it("repeats every period, and stops at until", () => {
    expect(inMaintenance([weekly], "web", 100 * H + 168 * H * 3 + H / 2)).toBe(weekly);
    expect(inMaintenance([weekly], "web", 101 * H + 168 * H * 3)).toBeUndefined();
    const limited: MaintenanceWindow = { ...weekly, repeat: { everyMs: 168 * H, until: 100 * H + 168 * H } };
    expect(inMaintenance([limited], "web", 100 * H + H / 2)).toBe(limited);
    expect(inMaintenance([limited], "web", 100 * H + 168 * H + H / 2)).toBeUndefined();
  });

  it("gives the occurrence, and the one ending last when windows overlap", () => {
    const longer: MaintenanceWindow = { id: "longer", checks: ["web"], from: 11 * H, to: 15 * H };
    expect(inMaintenanceOccurrence([once, longer], "web", 11 * H)).toMatchObject({ window: longer, to: 15 * H });
    expect(inMaintenanceOccurrence([weekly], "web", 100 * H + 168 * H)).toMatchObject({
      from: 268 * H,
      to: 269 * H,
    });
  });
});

describe("maintenanceEnd", () => {
  it("follows back-to-back windows, and is `at` outside maintenance", () => {
    const next: MaintenanceWindow = { id: "next", checks: ["web"], from: 12 * H, to: 13 * H };
    expect(maintenanceEnd([once, next], "web", 11 * H)).toBe(13 * H);
    expect(maintenanceEnd([once, next], "web", 20 * H)).toBe(20 * H);
  });
});

describe("maintenanceIntervals", () => {
  it("expands repeats over the range, clipped", () => {
    const got = maintenanceIntervals([weekly, once], "web", 0, 100 * H + 168 * H + H / 2);
    expect(got).toEqual([
      { start: 100 * H, end: 101 * H },
      { start: 268 * H, end: 268 * H + H / 2 },
      { start: 10 * H, end: 12 * H },
    ]);
    expect(maintenanceIntervals([once], "api", 0, 100 * H)).toEqual([]);
  });

  it("starts near the range for windows that began long ago", () => {
    const daily: MaintenanceWindow = { id: "d", checks: "*", from: 0, to: H, repeat: { everyMs: 24 * H } };
    expect(maintenanceIntervals([daily], "web", 1000 * 24 * H + H / 2, 1001 * 24 * H + H / 2)).toEqual([
      { start: 1000 * 24 * H + H / 2, end: 1000 * 24 * H + H },
      { start: 1001 * 24 * H, end: 1001 * 24 * H + H / 2 },
    ]);
  });
});

describe("windows selecting by labels", () => {
  const byLabel: MaintenanceWindow = { id: "pay", checks: [], labels: { team: "payments" }, from: 10 * H, to: 12 * H };
  it("cover the checks whose labels include every pair, and none given by id alone", () => {
    expect(inMaintenance([byLabel], { id: "api", labels: { team: "payments", env: "prod" } }, 11 * H)).toBe(byLabel);
    expect(inMaintenance([byLabel], { id: "api", labels: { team: "search" } }, 11 * H)).toBeUndefined();
    expect(inMaintenance([byLabel], { id: "api" }, 11 * H)).toBeUndefined();
    expect(inMaintenance([byLabel], "api", 11 * H)).toBeUndefined();
    expect(maintenanceIntervals([byLabel], { id: "api", labels: { team: "payments" } }, 0, 100 * H)).toEqual([
      { start: 10 * H, end: 12 * H },
    ]);
  });
});
