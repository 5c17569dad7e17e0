import type { Check } from "@probemesh/proto";
import { checkFixture, type CheckInit } from "@probemesh/proto/testing";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ProbeOutcome, Prober } from "../probes/types.js";
import type { Clock } from "./clock.js";
import { nextSlotAtOrAfter, phaseOffset, regionPhaseOffset, regionSlot } from "./phase-offset.js";
import { createScheduler, type RunReport, type SchedulerOptions } from "./scheduler.js";

const log = pino({ level: "silent" });
const T0 = 1_700_000_000_123;

function check(id: string, fields: CheckInit = {}): Check {
  return checkFixture(id, { type: "fake", ...fields });
}

function up(durationMs: number): ProbeOutcome {
  return { state: "up", reason: "", message: "", phases: {}, target: "t", durationMs, attempts: 1 };
}

/** A prober that takes `delayMs` of (fake) time, honours its signal, and records what it saw. */
function fakeProber(delayMs: (c: Check) => number, honourAbort = true) {
  let active = 0;
  let maxActive = 0;
  const calls: Array<{ id: string; at: number; version: number }> = [];
  const prober: Prober = {
    type: "fake",
    run(c, ctx) {
      calls.push({ id: c.id, at: Date.now(), version: c.version });
      active++;
      maxActive = Math.max(maxActive, active);
      const start = Date.now();
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          active--;
          resolve([up(Date.now() - start)]);
        }, delayMs(c));
        if (honourAbort) {
          ctx.signal.addEventListener("abort", () => {
            clearTimeout(t);
            active--;
            resolve([{ ...up(Date.now() - start), state: "down", reason: "timeout", message: "aborted" }]);
          });
        }
      });
    },
  };
  return { prober, calls, maxActive: () => maxActive };
}

const clock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as never),
};

function setup(prober: Prober, opts: Partial<SchedulerOptions> = {}) {
  const reports: RunReport[] = [];
  const scheduler = createScheduler({
    agentId: "agent-1",
    probers: new Map([[prober.type, prober]]),
    maxConcurrency: 64,
    onResult: (r) => reports.push(r),
    log,
    clock,
    ...opts,
  });
  return { scheduler, reports };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("phase offsets", () => {
  it("are deterministic per (check, agent) and inside the interval", () => {
    expect(phaseOffset("web", "a1", 60_000)).toBe(phaseOffset("web", "a1", 60_000));
    expect(phaseOffset("web", "a1", 60_000)).not.toBe(phaseOffset("web", "a2", 60_000));
    for (let i = 0; i < 200; i++) {
      const o = phaseOffset(`c${i}`, "a1", 1000);
      expect(o).toBeGreaterThanOrEqual(0);
      expect(o).toBeLessThan(1000);
      expect(Number.isInteger(o)).toBe(true);
    }
  });

  it("spread checks evenly over the interval", () => {
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 2000; i++) {
      const o = phaseOffset(`check-${i}`, "agent-x", 60_000);
      buckets[Math.floor(o / 6000)]!++;
    }
    for (const b of buckets) expect(b).toBeGreaterThan(140); // 200 expected per bucket
    for (const b of buckets) expect(b).toBeLessThan(260);
  });

  it("give the same slots after a restart", () => {
    const off = phaseOffset("web", "a1", 5000);
    const before = nextSlotAtOrAfter(T0, off, 5000);
    const after = nextSlotAtOrAfter(T0 + 123_456, off, 5000);
    expect((after - before) % 5000).toBe(0);
    expect(before % 5000).toBe(off);
  });
});

describe("region slots", () => {
  it("place a region among the check's own regions, else the mesh's, sorted; none for a lone region or an outsider", () => {
    const mesh = ["us-east", "eu-west", "ap-south"];
    expect(regionSlot({ regions: [] }, "eu-west", mesh)).toEqual({ index: 1, count: 3 });
    expect(regionSlot({ regions: ["us-east", "eu-west"] }, "us-east", mesh)).toEqual({ index: 1, count: 2 });
    expect(regionSlot({ regions: ["eu-west"] }, "eu-west", mesh)).toBeUndefined();
    expect(regionSlot({ regions: [] }, "sa-east", mesh)).toBeUndefined();
    expect(regionSlot({ regions: [] }, "eu-west", [])).toBeUndefined();
  });

  it("put each region's runs a slot apart, whatever the check, so a second region sees a failure within two slots", () => {
    const mesh = ["ap-south", "eu-west", "us-east"];
    const interval = 1000;
    const width = Math.floor(interval / 3);
    let worst = 0;
    for (let i = 0; i < 300; i++) {
      const id = `check-${i}`;
      const offsets = mesh.map((r) =>
        regionPhaseOffset(id, `agent-${r}`, interval, regionSlot({ regions: [] }, r, mesh)!),
      );
      for (const o of offsets) {
        expect(Number.isInteger(o) && o >= 0 && o < interval).toBe(true);
      }
      // Region k runs k slots after region 0, give or take a quarter slot for its agents.
      for (let k = 1; k < 3; k++) {
        const gap = (((offsets[k]! - offsets[0]!) % interval) + interval) % interval;
        expect(Math.abs(gap - k * width)).toBeLessThan(width / 4);
      }
      // The target fails at any moment t: the second region's first run after t comes within two slots and a quarter.
      for (let t = 0; t < interval; t += 25) {
        const waits = offsets.map((o) => (((o - t) % interval) + interval) % interval).sort((a, b) => a - b);
        worst = Math.max(worst, waits[1]!);
      }
    }
    expect(worst).toBeLessThan(2 * width + width / 4);
    // Independent offsets (no regions known) leave it up to almost a whole interval.
    let independentWorst = 0;
    for (let i = 0; i < 300; i++) {
      const offsets = mesh.map((r) => phaseOffset(`check-${i}`, `agent-${r}`, interval));
      for (let t = 0; t < interval; t += 25) {
        const waits = offsets.map((o) => (((o - t) % interval) + interval) % interval).sort((a, b) => a - b);
        independentWorst = Math.max(independentWorst, waits[1]!);
      }
    }
    expect(independentWorst).toBeGreaterThan(0.9 * interval);
  });

  it("spread a region's agents inside its slot, deterministically", () => {
    const slot = { index: 1, count: 3 };
    expect(regionPhaseOffset("web", "a1", 1000, slot)).toBe(regionPhaseOffset("web", "a1", 1000, slot));
    const inSlot = new Set(Array.from({ length: 20 }, (_, i) => regionPhaseOffset("web", `a${i}`, 1000, slot)));
    expect(inSlot.size).toBeGreaterThan(10);
  });
});

describe("scheduler", () => {
  it("places runs in the region's slot, and moves them when the regions change (rephase)", async () => {
    const f = fakeProber(() => 5);
    let mesh: string[] = [];
    const { scheduler, reports } = setup(f.prober, {
      regionSlot: (c) => regionSlot(c, "eu-west", mesh),
    });
    scheduler.upsert(check("web", { intervalMs: 1000 }));
    await vi.advanceTimersByTimeAsync(3000);
    // No regions known: the hash of check and agent.
    for (const r of reports) expect(r.plannedAtMs % 1000).toBe(phaseOffset("web", "agent-1", 1000));
    mesh = ["ap-south", "eu-west", "us-east"];
    expect(scheduler.rephase()).toBe(1);
    expect(scheduler.rephase()).toBe(0);
    const n = reports.length;
    await vi.advanceTimersByTimeAsync(3000);
    const placed = regionPhaseOffset("web", "agent-1", 1000, { index: 1, count: 3 });
    expect(reports.length - n).toBeGreaterThanOrEqual(2);
    for (const r of reports.slice(n)) expect(r.plannedAtMs % 1000).toBe(placed);
    // Moved, the next run still comes at least half an interval after the last one.
    expect(reports[n]!.plannedAtMs - reports[n - 1]!.plannedAtMs).toBeGreaterThanOrEqual(500);
    // An upsert with its own regions places it among them.
    scheduler.upsert(check("web", { intervalMs: 1000, regions: ["eu-west", "us-east"] }));
    const m = reports.length;
    await vi.advanceTimersByTimeAsync(3000);
    const own = regionPhaseOffset("web", "agent-1", 1000, { index: 0, count: 2 });
    for (const r of reports.slice(m)) expect(r.plannedAtMs % 1000).toBe(own);
    await scheduler.stop();
  });

  it("a check moved to its region's slot runs next at least half an interval after its last run", async () => {
    const slot = { index: 1, count: 3 };
    // A check whose region slot comes soon (1..400 ms) after its hashed phase: moved right after a run,
    // its next slot would come only that long after it.
    let id = "";
    for (let i = 0; !id; i++) {
      const ahead =
        (regionPhaseOffset(`c${i}`, "agent-1", 1000, slot) - phaseOffset(`c${i}`, "agent-1", 1000) + 1000) % 1000;
      if (ahead > 0 && ahead < 400) id = `c${i}`;
    }
    const f = fakeProber(() => 5);
    let mesh: string[] = [];
    const { scheduler, reports } = setup(f.prober, { regionSlot: (c) => regionSlot(c, "eu-west", mesh) });
    scheduler.upsert(check(id, { intervalMs: 1000 }));
    await vi.advanceTimersByTimeAsync(2000);
    const last = nextSlotAtOrAfter(Date.now(), phaseOffset(id, "agent-1", 1000), 1000);
    await vi.advanceTimersByTimeAsync(last + 10 - Date.now()); // just after a run (5 ms long)
    expect(reports.at(-1)!.plannedAtMs).toBe(last);
    mesh = ["ap-south", "eu-west", "us-east"];
    expect(scheduler.rephase()).toBe(1);
    await vi.advanceTimersByTimeAsync(3000);
    const next = reports.find((r) => r.plannedAtMs > last)!;
    expect(next.plannedAtMs - last).toBeGreaterThanOrEqual(500);
    expect(next.plannedAtMs % 1000).toBe(regionPhaseOffset(id, "agent-1", 1000, slot));
    await scheduler.stop();
  });

  it("runs at offset + n*interval with no drift over many intervals", async () => {
    const f = fakeProber(() => 37);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("web"));
    const offset = phaseOffset("web", "agent-1", 1000);
    await vi.advanceTimersByTimeAsync(1000 * 1000);
    expect(reports.length).toBeGreaterThanOrEqual(999);
    expect(reports.length).toBeLessThanOrEqual(1000);
    for (const r of reports) {
      expect(r.plannedAtMs % 1000).toBe(offset);
      expect(r.startedAtMs).toBe(r.plannedAtMs);
      expect(r.lagMs).toBe(0);
    }
    const last = reports.at(-1)!;
    const first = reports[0]!;
    expect(last.plannedAtMs - first.plannedAtMs).toBe((reports.length - 1) * 1000);
    expect(scheduler.stats().skippedSlots).toBe(0);
    await scheduler.stop();
  });

  it("never exceeds the concurrency bound, and measures the lag of queued runs", async () => {
    // 20 checks each busy 60% of their interval want ~12 permits; only 3 exist.
    const f = fakeProber(() => 600);
    const { scheduler, reports } = setup(f.prober, { maxConcurrency: 3 });
    for (let i = 0; i < 20; i++) scheduler.upsert(check(`c${i}`, { intervalMs: 1000, timeoutMs: 900 }));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(f.maxActive()).toBe(3);
    // 3 permits * 30 s / 0.6 s = at most 150 runs; the rest were skipped, not burst later.
    expect(reports.length).toBeLessThanOrEqual(150);
    expect(reports.length).toBeGreaterThan(140);
    const stats = scheduler.stats();
    expect(stats.skippedSlots).toBeGreaterThan(0);
    expect(stats.lag.count).toBe(stats.runs);
    expect(stats.runs - reports.length).toBe(stats.inFlight);
    expect(stats.lag.p99Ms).toBeGreaterThan(0);
    expect(stats.inFlight).toBeLessThanOrEqual(3);
    const stopped = scheduler.stop();
    await vi.advanceTimersByTimeAsync(1000);
    await stopped;
  });

  it("lag is actual start minus planned start when permits are scarce", async () => {
    const f = fakeProber(() => 300);
    const { scheduler, reports } = setup(f.prober, { maxConcurrency: 1 });
    const off = (id: string) => phaseOffset(id, "agent-1", 10_000);
    // Find two ids whose offsets are close, so the second waits for the first.
    const ids = Array.from({ length: 400 }, (_, i) => `k${i}`).sort((a, b) => off(a) - off(b));
    let pair: [string, string] | undefined;
    for (let i = 0; i + 1 < ids.length; i++) {
      const d = off(ids[i + 1]!) - off(ids[i]!);
      if (d > 0 && d < 100 && off(ids[i]!) > 200) {
        pair = [ids[i]!, ids[i + 1]!];
        break;
      }
    }
    expect(pair).toBeDefined();
    const [a, b] = pair!;
    scheduler.upsert(check(a, { intervalMs: 10_000 }));
    scheduler.upsert(check(b, { intervalMs: 10_000 }));
    await vi.advanceTimersByTimeAsync(10_000);
    const ra = reports.find((r) => r.check.id === a)!;
    const rb = reports.find((r) => r.check.id === b)!;
    expect(ra.lagMs).toBe(0);
    expect(rb.lagMs).toBe(300 - (off(b) - off(a)));
    expect(rb.startedAtMs - rb.plannedAtMs).toBe(rb.lagMs);
    expect(scheduler.stats().lag.maxMs).toBe(rb.lagMs);
    await scheduler.stop();
  });

  it("aborts the prober at the timeout", async () => {
    const f = fakeProber(() => 10_000);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("slow", { intervalMs: 5000, timeoutMs: 700 }));
    await vi.advanceTimersByTimeAsync(5000);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.outcome).toMatchObject({ state: "down", reason: "timeout", durationMs: 700 });
    await scheduler.stop();
  });

  it("reports a timeout itself when a prober ignores its abort signal", async () => {
    const f = fakeProber(() => 1_000_000, false);
    const { scheduler, reports } = setup(f.prober, { maxConcurrency: 1, timeoutGraceMs: 200 });
    scheduler.upsert(check("hung", { intervalMs: 2000, timeoutMs: 500 }));
    await vi.advanceTimersByTimeAsync(2000);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.outcome).toMatchObject({ state: "down", reason: "timeout" });
    expect(reports[0]!.outcome.durationMs).toBe(700);
    // The permit came back: the next runs still happen with one permit.
    await vi.advanceTimersByTimeAsync(4000);
    expect(reports).toHaveLength(3);
    expect(scheduler.stats().hardTimeouts).toBe(3);
    await scheduler.stop({ waitMs: 0 });
  });

  it("stops a removed check, including a run waiting for a permit", async () => {
    const f = fakeProber(() => 50);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("gone", { intervalMs: 1000 }));
    await vi.advanceTimersByTimeAsync(3000);
    const before = reports.length;
    expect(before).toBeGreaterThanOrEqual(2);
    scheduler.remove("gone");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reports.length).toBe(before);
    expect(scheduler.checkIds()).toEqual([]);
    await scheduler.stop();
  });

  it("applies an edit at the next run", async () => {
    const f = fakeProber(() => 10);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("web", { version: 1 }));
    await vi.advanceTimersByTimeAsync(2000);
    scheduler.upsert(check("web", { version: 2 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(reports.at(-1)!.check.version).toBe(2);
    expect(reports.filter((r) => r.check.version === 1).length).toBeGreaterThanOrEqual(1);
    // A new interval takes effect with its own phase.
    scheduler.upsert(check("web", { version: 3, intervalMs: 5000 }));
    const n = reports.length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(reports.length - n).toBe(4);
    for (const r of reports.slice(n)) expect(r.plannedAtMs % 5000).toBe(phaseOffset("web", "agent-1", 5000));
    await scheduler.stop();
  });

  it("skips missed slots instead of bursting when late by more than an interval", async () => {
    let skew = 0;
    const skewed: Clock = { ...clock, now: () => Date.now() + skew };
    const f = fakeProber(() => 10);
    const { scheduler, reports } = setup(f.prober, { clock: skewed });
    scheduler.upsert(check("web", { intervalMs: 1000 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(reports).toHaveLength(1);
    skew = 5500; // e.g. the event loop was blocked for 5.5 s
    await vi.advanceTimersByTimeAsync(1000);
    expect(reports).toHaveLength(2);
    expect(scheduler.stats().skippedSlots).toBe(5);
    expect(reports[1]!.lagMs).toBeLessThan(1000);
    await scheduler.stop();
  });

  it("never overlaps runs of one check; the overlapped slot is counted as skipped", async () => {
    const f = fakeProber(() => 1500);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("long", { intervalMs: 1000, timeoutMs: 2000 }));
    const first = nextSlotAtOrAfter(T0, phaseOffset("long", "agent-1", 1000), 1000);
    // Runs start at first, +2 s, ..., +8 s; each 1.5 s run swallows the slot after it.
    await vi.advanceTimersByTimeAsync(first - T0 + 9999);
    expect(f.maxActive()).toBe(1);
    expect(reports.length).toBe(5);
    expect(scheduler.stats().skippedSlots).toBeGreaterThanOrEqual(4);
    await scheduler.stop();
  });

  it("reports a capability failure for an unknown type and refuses a too-short interval", async () => {
    const f = fakeProber(() => 10);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("dns1", { type: "dns", intervalMs: 1000 }));
    scheduler.upsert(check("fast", { intervalMs: 5 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.outcome).toMatchObject({ state: "down", reason: "capability" });
    expect(scheduler.stats().invalidChecks).toBe(1);
    expect(scheduler.checkIds()).toEqual(["dns1"]);
    await scheduler.stop();
  });

  it("asks a prober's capabilityError once per check version", async () => {
    const capabilityError = vi.fn(async () => "no raw socket");
    const prober: Prober = { type: "fake", capabilityError, run: async () => [up(1)] };
    const { scheduler, reports } = setup(prober);
    scheduler.upsert(check("p", { intervalMs: 1000 }));
    await vi.advanceTimersByTimeAsync(3000);
    expect(reports.length).toBe(3);
    expect(reports.every((r) => r.outcome.reason === "capability" && r.outcome.message === "no raw socket")).toBe(true);
    expect(capabilityError).toHaveBeenCalledTimes(1);
    await scheduler.stop();
  });

  it("stop waits for in-flight runs and reports them", async () => {
    const f = fakeProber(() => 300);
    const { scheduler, reports } = setup(f.prober);
    scheduler.upsert(check("web", { intervalMs: 1000 }));
    const offset = phaseOffset("web", "agent-1", 1000);
    await vi.advanceTimersByTimeAsync(nextSlotAtOrAfter(T0, offset, 1000) - T0 + 10);
    expect(scheduler.stats().inFlight).toBe(1);
    const stopped = scheduler.stop({ waitMs: 5000 });
    await vi.advanceTimersByTimeAsync(300);
    await stopped;
    expect(reports).toHaveLength(1);
    expect(reports[0]!.outcome.state).toBe("up");
    await vi.advanceTimersByTimeAsync(5000);
    expect(reports).toHaveLength(1);
  });
});

describe("scheduler result handler", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  it("counts a throwing result handler and keeps scheduling", async () => {
    const f = fakeProber(() => 5);
    let calls = 0;
    const { scheduler } = setup(f.prober, {
      onResult: () => {
        calls++;
        throw new Error("disk full");
      },
    });
    scheduler.upsert(check("web", { intervalMs: 1000 }));
    await vi.advanceTimersByTimeAsync(3000);
    expect(calls).toBe(3);
    expect(scheduler.stats().resultHandlerErrors).toBe(3);
    await scheduler.stop();
  });
});
