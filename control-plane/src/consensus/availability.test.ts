import { describe, expect, it } from "vitest";
import { availability, observedFromBuckets } from "./availability.js";

const H = 3_600_000;
const DAY = 24 * H;

describe("availability", () => {
  it("no outages: 100 %, whole budget left, no MTTR/MTBF", () => {
    const r = availability([], { from: 0, to: DAY });
    expect(r).toMatchObject({
      windowMs: DAY,
      downtimeMs: 0,
      outages: 0,
      mttrMs: null,
      mtbfMs: null,
      availability: 100,
    });
    expect(r.slo).toEqual({
      target: 99.9,
      met: true,
      errorBudgetMs: 86_400,
      errorBudgetRemainingMs: 86_400,
      errorBudgetRemainingPercent: 100,
    });
  });

  it("downtime, MTTR as mean start->end and MTBF as mean end->next start", () => {
    // Two outages in a day: 10 min at 01:00 and 20 min at 05:00.
    const r = availability(
      [
        { start: 1 * H, end: 1 * H + 600_000 },
        { start: 5 * H, end: 5 * H + 1_200_000 },
      ],
      { from: 0, to: DAY },
    );
    expect(r.downtimeMs).toBe(1_800_000);
    expect(r.outages).toBe(2);
    expect(r.mttrMs).toBe(900_000);
    expect(r.mtbfMs).toBe(5 * H - (1 * H + 600_000));
    expect(r.availability).toBeCloseTo(100 * (1 - 1_800_000 / DAY), 8);
    // 99.9 % of a day allows 86.4 s; 30 min is far over budget.
    expect(r.slo.met).toBe(false);
    expect(r.slo.errorBudgetRemainingMs).toBe(86_400 - 1_800_000);
    expect(r.slo.errorBudgetRemainingPercent).toBeCloseTo(((86_400 - 1_800_000) / 86_400) * 100, 6);
  });

  it("clips intervals to the window but keeps whole durations for MTTR", () => {
    const r = availability([{ start: -H, end: H }], { from: 0, to: DAY });
    expect(r.downtimeMs).toBe(H);
    expect(r.mttrMs).toBe(2 * H);
    expect(r.outages).toBe(1);
  });

  it("an open outage counts until now and is left out of MTTR; the future is not uptime", () => {
    const r = availability([{ start: 2 * H, end: null }], { from: 0, to: DAY, now: 3 * H });
    expect(r.to).toBe(3 * H);
    expect(r.windowMs).toBe(3 * H);
    expect(r.downtimeMs).toBe(H);
    expect(r.mttrMs).toBeNull();
    expect(r.availability).toBeCloseTo(100 * (2 / 3), 6);
  });

  it("overlapping intervals are merged, intervals outside the window ignored", () => {
    const r = availability(
      [
        { start: H, end: 3 * H },
        { start: 2 * H, end: 4 * H },
        { start: DAY + H, end: DAY + 2 * H },
        { start: -3 * H, end: -2 * H },
      ],
      { from: 0, to: DAY },
    );
    expect(r.downtimeMs).toBe(3 * H);
    expect(r.outages).toBe(1);
  });

  it("five nines over a year allow about 5.26 minutes", () => {
    const year = 365 * DAY;
    const r = availability([], { from: 0, to: year, sloTarget: 99.999 });
    expect(r.slo.errorBudgetMs / 60_000).toBeCloseTo(5.256, 3);
  });

  it("a 100 % target has no budget: 0 % left after any downtime", () => {
    const r = availability([{ start: 0, end: 1 }], { from: 0, to: DAY, sloTarget: 100 });
    expect(r.slo).toMatchObject({ errorBudgetMs: 0, errorBudgetRemainingPercent: 0, met: false });
  });
});

describe("availability over observed time", () => {
  it("excludes time without a verdict from the denominator and down time inside it", () => {
    // Observed 00:00-06:00 and 12:00-24:00; down 05:00-07:00 (one hour of it unobserved).
    const r = availability([{ start: 5 * H, end: 7 * H }], {
      from: 0,
      to: DAY,
      observed: [
        { start: 0, end: 6 * H },
        { start: 12 * H, end: DAY },
      ],
    });
    expect(r).toMatchObject({ windowMs: DAY, noDataMs: 6 * H, downtimeMs: H });
    expect(r.availability).toBeCloseTo(100 * (1 - 1 / 18), 8);
    expect(r.slo.errorBudgetMs).toBe(Math.round((18 * H * 0.1) / 100));
  });

  it("reports maintenance apart: out of the denominator, out of noDataMs, its down time not counted", () => {
    // Observed 00:00-06:00 and 12:00-24:00; maintenance 04:00-08:00 and 20:00-22:00; down 05:00-07:00 and 21:00-23:00.
    const r = availability(
      [
        { start: 5 * H, end: 7 * H },
        { start: 21 * H, end: 23 * H },
      ],
      {
        from: 0,
        to: DAY,
        observed: [
          { start: 0, end: 6 * H },
          { start: 12 * H, end: DAY },
        ],
        maintenance: [
          { start: 4 * H, end: 8 * H },
          { start: 20 * H, end: 22 * H },
        ],
      },
    );
    // Observed outside maintenance: 00-04 and 12-20 and 22-24 = 14 h; unobserved outside it: 08-12 = 4 h.
    expect(r).toMatchObject({ windowMs: DAY, maintenanceMs: 6 * H, noDataMs: 4 * H, downtimeMs: H, outages: 2 });
    expect(r.availability).toBeCloseTo(100 * (1 - 1 / 14), 8);
    expect(r.slo.errorBudgetMs).toBe(Math.round((14 * H * 0.1) / 100));
  });

  it("a window wholly in maintenance has no availability", () => {
    const r = availability([{ start: 0, end: H }], { from: 0, to: H, maintenance: [{ start: -H, end: 2 * H }] });
    expect(r).toMatchObject({ maintenanceMs: H, noDataMs: 0, downtimeMs: 0, availability: null });
  });

  it("nothing observed: availability is null, not 100 %", () => {
    const r = availability([], { from: 0, to: H, observed: [] });
    expect(r).toMatchObject({ noDataMs: H, availability: null, slo: { met: true, errorBudgetMs: 0 } });
  });

  it("observed buckets: per region where it reported, globally where enough regions did", () => {
    const m = 60_000;
    const o = observedFromBuckets(
      new Map([
        ["a", [0, m, 2 * m]],
        ["b", [m, 2 * m]],
        ["c", [2 * m]],
      ]),
      m,
      2,
    );
    expect(o.regions.get("c")).toEqual([{ start: 2 * m, end: 3 * m }]);
    expect(o.global).toEqual([
      { start: m, end: 2 * m },
      { start: 2 * m, end: 3 * m },
    ]);
  });
});
