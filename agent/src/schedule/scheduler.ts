import type { Check } from "@probemesh/proto";
import type { Logger } from "pino";
import type { ProbeOutcome, Prober } from "../probes/types.js";
import { checkTarget } from "./check-target.js";
import { systemClock, type Clock, type TimerHandle } from "./clock.js";
import { createLagTracker, type LagSummary } from "./lag-tracker.js";
import { nextSlotAtOrAfter, phaseOffset, regionPhaseOffset, type RegionSlot } from "./phase-offset.js";
import { createSemaphore } from "./semaphore.js";

/** One outcome of one run, handed to the publisher. */
export interface RunReport {
  /** The check exactly as it was when the run started. */
  check: Check;
  outcome: ProbeOutcome;
  /** Planned start (epoch ms). */
  plannedAtMs: number;
  /** Actual start (epoch ms). */
  startedAtMs: number;
  /** startedAtMs - plannedAtMs, never negative. */
  lagMs: number;
}

/** Counters and gauges of the scheduler. */
export interface SchedulerStats {
  checks: number;
  inFlight: number;
  /** Runs due but waiting for a concurrency permit. */
  queued: number;
  runs: number;
  /** Planned slots not run because the agent was late by more than an interval or the previous run was still going. */
  skippedSlots: number;
  /** Runs the scheduler ended itself because the prober overran its timeout plus grace. */
  hardTimeouts: number;
  /** Checks refused as invalid (e.g. an interval below the minimum). */
  invalidChecks: number;
  /** Outcomes lost because the result handler threw (e.g. the sequence file could not be written). */
  resultHandlerErrors: number;
  lag: LagSummary;
}

/** Dependencies and options of `createScheduler`. */
export interface SchedulerOptions {
  agentId: string;
  /** Probers by check type. */
  probers: ReadonlyMap<string, Prober>;
  /** Most runs in flight at once. */
  maxConcurrency: number;
  /** Called once per outcome of every finished run. Must not throw. */
  onResult: (report: RunReport) => void;
  log: Logger;
  /** @default systemClock() */
  clock?: Clock;
  /** Extra time a prober gets after its abort signal fires before the scheduler reports a timeout itself. @default 1000 */
  timeoutGraceMs?: number;
  /** Shortest interval accepted; shorter checks are refused and counted. @default 100 */
  minIntervalMs?: number;
  /**
   * This agent's region's slot among the regions that run a check (`regionSlot`); runs are then
   * placed in that slot of the interval (`regionPhaseOffset`), else by a hash of check and agent.
   * @default none
   */
  regionSlot?: (check: Check) => RegionSlot | undefined;
}

/** Runs every assigned check at its interval. */
export interface Scheduler {
  /** Adds a check or replaces its definition; the new definition applies from the next run. */
  upsert(check: Check): void;
  /** Stops a check: no run starts for it after this call. */
  remove(checkId: string): void;
  /** Places every check again (after the regions that `regionSlot` reads changed); returns how many moved. */
  rephase(): number;
  checkIds(): string[];
  stats(): SchedulerStats;
  /** Stops scheduling, waits up to `waitMs` for in-flight runs (their results are still reported), then aborts the rest. @default waitMs 5000 */
  stop(options?: { waitMs?: number }): Promise<void>;
}

interface Entry {
  check: Check;
  intervalMs: number;
  offsetMs: number;
  /** Planned start of the next run (epoch ms). */
  nextSlotMs: number;
  timer: TimerHandle | undefined;
  running: boolean;
  removed: boolean;
}

type OutcomeFields = Pick<ProbeOutcome, "reason" | "message">;

/** Creates a scheduler; it runs nothing until checks are upserted. */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const clock = options.clock ?? systemClock();
  const graceMs = options.timeoutGraceMs ?? 1000;
  const minIntervalMs = options.minIntervalMs ?? 100;
  const log = options.log.child({ component: "scheduler" });
  const semaphore = createSemaphore(options.maxConcurrency);
  const lag = createLagTracker();
  const entries = new Map<string, Entry>();
  const inFlight = new Set<{ controller: AbortController; done: Promise<void> }>();
  // Capability answers per check id and version: asking may be costly (e.g. opening a raw socket).
  const capability = new Map<string, string | undefined>();
  // Abort reasons: probers see a TimeoutError at the deadline; STOP marks runs cut short by stop().
  const TIMEOUT = new DOMException("probe timeout", "TimeoutError");
  const STOP = new DOMException("agent stopping", "AbortError");
  let stopping = false;
  let queued = 0;
  let runs = 0;
  let skippedSlots = 0;
  let hardTimeouts = 0;
  let invalidChecks = 0;
  let resultHandlerErrors = 0;

  const offsetFor = (check: Check): number => {
    const slot = options.regionSlot?.(check);
    return slot
      ? regionPhaseOffset(check.id, options.agentId, check.intervalMs, slot)
      : phaseOffset(check.id, options.agentId, check.intervalMs);
  };

  /**
   * Moves an entry to a new interval and phase; it is kept (with its running flag) so runs never
   * overlap, and its next run comes at least half an interval (the shorter of old and new) after the
   * last one planned: two runs a moment apart would count as two results in a row for the verdict.
   */
  const place = (entry: Entry, check: Check, offsetMs: number) => {
    const lastPlannedMs = entry.nextSlotMs - entry.intervalMs;
    const earliest = Math.max(clock.now(), lastPlannedMs + Math.min(entry.intervalMs, check.intervalMs) / 2);
    const nextSlotMs = nextSlotAtOrAfter(earliest, offsetMs, check.intervalMs);
    Object.assign(entry, { check, intervalMs: check.intervalMs, offsetMs, nextSlotMs });
    arm(entry);
  };

  const arm = (entry: Entry) => {
    if (entry.timer !== undefined) clock.clearTimeout(entry.timer);
    entry.timer = clock.setTimeout(() => fire(entry), Math.max(0, entry.nextSlotMs - clock.now()));
  };

  const fire = (entry: Entry) => {
    entry.timer = undefined;
    if (entry.removed || stopping) return;
    const now = clock.now();
    let planned = entry.nextSlotMs;
    if (now < planned - entry.intervalMs) {
      // The wall clock went back: re-anchor instead of waiting out the jump.
      entry.nextSlotMs = nextSlotAtOrAfter(now, entry.offsetMs, entry.intervalMs);
      arm(entry);
      return;
    }
    if (now < planned) {
      arm(entry); // timer fired early
      return;
    }
    const late = Math.floor((now - planned) / entry.intervalMs);
    if (late > 0) {
      // Never burst to catch up: run the latest due slot, count the ones passed over.
      skippedSlots += late;
      planned += late * entry.intervalMs;
      log.warn({ checkId: entry.check.id, skipped: late }, "scheduling fell behind; skipped missed slots");
    }
    entry.nextSlotMs = planned + entry.intervalMs;
    arm(entry);
    if (entry.running) {
      skippedSlots++;
      log.debug({ checkId: entry.check.id }, "previous run still in progress; slot skipped");
      return;
    }
    entry.running = true;
    void launch(entry, planned);
  };

  const launch = async (entry: Entry, plannedAtMs: number) => {
    queued++;
    const release = await semaphore.acquire();
    queued--;
    if (entry.removed || stopping) {
      release();
      entry.running = false;
      return;
    }
    const check = entry.check;
    const startedAtMs = clock.now();
    const lagMs = Math.max(0, startedAtMs - plannedAtMs);
    lag.record(lagMs);
    runs++;
    const controller = new AbortController();
    let finish!: () => void;
    const handle = { controller, done: new Promise<void>((r) => (finish = r)) };
    inFlight.add(handle);
    try {
      const outcomes = await runOnce(check, controller, startedAtMs);
      // A run cut short by the agent stopping would only report a misleading failure.
      if (controller.signal.aborted && stopping && controller.signal.reason === STOP) return;
      for (const outcome of outcomes) {
        try {
          options.onResult({ check, outcome, plannedAtMs, startedAtMs, lagMs });
        } catch (err) {
          resultHandlerErrors++;
          log.error({ err, checkId: check.id }, "result handler threw; result lost");
        }
      }
    } finally {
      inFlight.delete(handle);
      release();
      entry.running = false;
      finish();
    }
  };

  const runOnce = async (check: Check, controller: AbortController, startedAtMs: number): Promise<ProbeOutcome[]> => {
    const failure = (fields: OutcomeFields): ProbeOutcome[] => [
      {
        state: "down",
        phases: {},
        target: checkTarget(check),
        durationMs: Math.max(0, clock.now() - startedAtMs),
        attempts: 1,
        ...fields,
      },
    ];
    const prober = options.probers.get(check.type);
    if (!prober) return failure({ reason: "capability", message: `this agent has no prober for type "${check.type}"` });
    const capKey = `${check.id}@${check.version}`;
    if (prober.capabilityError) {
      if (!capability.has(capKey)) {
        const problem = await prober
          .capabilityError(check)
          .catch((err: unknown) => `capability check failed: ${String(err)}`);
        capability.set(capKey, problem);
      }
      const problem = capability.get(capKey);
      if (problem !== undefined) return failure({ reason: "capability", message: problem.slice(0, 512) });
    }
    const timeoutMs = check.timeoutMs > 0 ? check.timeoutMs : check.intervalMs;
    let hardTimer: TimerHandle | undefined;
    const abortTimer = clock.setTimeout(() => controller.abort(TIMEOUT), timeoutMs);
    const overrun = new Promise<"overrun">((resolve) => {
      hardTimer = clock.setTimeout(() => resolve("overrun"), timeoutMs + graceMs);
    });
    try {
      const result = await Promise.race([
        prober
          .run(check, { signal: controller.signal, timeoutMs })
          .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
        overrun,
      ]);
      if (result === "overrun") {
        hardTimeouts++;
        log.warn({ checkId: check.id, type: check.type, timeoutMs }, "prober overran its timeout; reported as timeout");
        return failure({ reason: "timeout", message: `no result within ${timeoutMs} ms` });
      }
      if (result instanceof Error) {
        // The contract says probers never reject; one that does is a bug, reported rather than lost.
        log.error({ err: result, checkId: check.id }, "prober rejected");
        return failure({ reason: "internal", message: `prober failed: ${result.message}`.slice(0, 512) });
      }
      if (result.length === 0) return failure({ reason: "internal", message: "prober returned no outcome" });
      return result;
    } finally {
      clock.clearTimeout(abortTimer);
      if (hardTimer !== undefined) clock.clearTimeout(hardTimer);
    }
  };

  const removeEntry = (id: string) => {
    const entry = entries.get(id);
    if (!entry) return;
    entry.removed = true;
    if (entry.timer !== undefined) clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entries.delete(id);
    for (const key of capability.keys()) if (key.startsWith(`${id}@`)) capability.delete(key);
  };

  return {
    upsert(check) {
      if (stopping) return;
      if (!(check.intervalMs >= minIntervalMs)) {
        invalidChecks++;
        log.warn(
          { checkId: check.id, intervalMs: check.intervalMs, minIntervalMs },
          "check refused: interval below minimum",
        );
        removeEntry(check.id);
        return;
      }
      const existing = entries.get(check.id);
      const offsetMs = offsetFor(check);
      if (existing && existing.intervalMs === check.intervalMs && existing.offsetMs === offsetMs) {
        existing.check = check;
        return;
      }
      if (existing) {
        // New interval or regions: new phase.
        place(existing, check, offsetMs);
        return;
      }
      const entry: Entry = {
        check,
        intervalMs: check.intervalMs,
        offsetMs,
        nextSlotMs: nextSlotAtOrAfter(clock.now(), offsetMs, check.intervalMs),
        timer: undefined,
        running: false,
        removed: false,
      };
      entries.set(check.id, entry);
      arm(entry);
    },
    remove(checkId) {
      removeEntry(checkId);
    },
    rephase() {
      if (stopping) return 0;
      let moved = 0;
      for (const entry of entries.values()) {
        const offsetMs = offsetFor(entry.check);
        if (offsetMs === entry.offsetMs) continue;
        place(entry, entry.check, offsetMs);
        moved++;
      }
      return moved;
    },
    checkIds: () => [...entries.keys()],
    stats: () => ({
      checks: entries.size,
      inFlight: inFlight.size,
      queued,
      runs,
      skippedSlots,
      hardTimeouts,
      invalidChecks,
      resultHandlerErrors,
      lag: lag.summary(),
    }),
    async stop({ waitMs = 5000 } = {}) {
      stopping = true;
      for (const id of [...entries.keys()]) removeEntry(id);
      const pending = [...inFlight].map((h) => h.done);
      if (pending.length === 0) return;
      let timer: TimerHandle | undefined;
      const waited = await Promise.race([
        Promise.all(pending).then(() => true),
        new Promise<boolean>((resolve) => (timer = clock.setTimeout(() => resolve(false), waitMs))),
      ]);
      if (timer !== undefined) clock.clearTimeout(timer);
      if (!waited) {
        log.warn({ inFlight: inFlight.size }, "stopping: aborting runs still in flight");
        for (const h of inFlight) h.controller.abort(STOP);
      }
    },
  };
}
