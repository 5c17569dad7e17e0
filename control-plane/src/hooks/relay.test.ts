import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { backoffPolicy } from "../backoff.js";
import { createDegradedAnnouncements, type DegradedBucket } from "../consensus/degraded-announcements.js";
import type { CheckStatus, GlobalState, Outage } from "../consensus/types.js";
import { createDependencyGate } from "../dependencies/hook-gate.js";
import { UnavailableError, ValidationError } from "../errors.js";
import { createMaintenanceGate } from "../maintenance/hook-gate.js";
import type { MaintenanceWindow } from "../maintenance/types.js";
import type { OutageQuery } from "../store/outages.js";
import type { PublishOptions, PublishResult } from "./hooks.js";
import { createHookRelay, type HookRelayOptions } from "./relay.js";
import type { HookEvent } from "./types.js";

const M = 60_000;
const log = pino({ level: "silent" });
/** Retries at once: the tests count attempts, not wait for them. */
const noDelay = backoffPolicy({ initialMs: 0, maxMs: 0, jitter: "none" });

function incident(kind: "outage" | "partial", confirmedAt: number, more: Partial<Outage> = {}): Outage {
  return {
    id: `${kind}:web:${confirmedAt}`,
    checkId: "web",
    kind,
    state: "open",
    startedAt: confirmedAt - 1000,
    confirmedAt,
    resolvedAt: null,
    regions: ["eu", "us"],
    reason: "timeout",
    ...more,
  };
}

function status(state: GlobalState, more: Partial<CheckStatus> = {}): CheckStatus {
  return { checkId: "web", state, reason: "", since: 0, regions: {}, outage: null, ...more };
}

/** Engine stand-in: statuses and open incidents set by the test. */
function fakeEngine() {
  const statuses = new Map<string, CheckStatus>();
  const open: Outage[] = [];
  /** `failIn: n` makes the n-th status read from now fail (0: none). */
  const engineStatus = { failIn: 0 };
  const statusOf = (id: string) => {
    if (engineStatus.failIn > 0 && --engineStatus.failIn === 0) throw new Error("engine status failed");
    return statuses.get(id);
  };
  return { statuses, open, engineStatus, engine: { status: statusOf, openIncidents: () => [...open] } };
}

/** Hooks stand-in: records what it took; `failNext` rejects that many calls as NATS would; `hold` delays each call. */
function fakeHooks() {
  const taken: HookEvent[] = [];
  const calls: string[] = [];
  const state: { failNext: number; refuse: boolean; hold?: Promise<void> } = { failNext: 0, refuse: false };
  const hooks = {
    fences: [] as (PublishOptions | undefined)[],
    publish: async (event: HookEvent, opts?: PublishOptions): Promise<PublishResult> => {
      calls.push(event.id);
      hooks.fences.push(opts);
      if (state.hold) await state.hold;
      if (state.refuse) throw new ValidationError("malformed event");
      if (state.failNext > 0) {
        state.failNext--;
        throw new UnavailableError("nats: timeout");
      }
      taken.push(event);
      return { eventId: event.id, enqueued: ["h"], duplicates: [] };
    },
  };
  return { hooks, taken, calls, state };
}

/** Memory stand-in for the degraded bucket (the KV calls degraded-announcements makes). */
function fakeBucket() {
  const data = new Map<string, string>();
  const bucket = {
    put: async (k: string, v: string) => {
      data.set(k, v);
      return data.size;
    },
    delete: async (k: string) => {
      data.delete(k);
    },
    get: async (k: string) => {
      const v = data.get(k);
      return v === undefined ? null : { operation: "PUT", string: () => v };
    },
    keys: async () =>
      (async function* () {
        yield* [...data.keys()];
      })(),
  } as unknown as DegradedBucket;
  return { bucket, data };
}

/** A relay on fakes; the clock is `clock.now`, maintenance windows are `windows`. */
function setup(
  opts: { windows?: MaintenanceWindow[]; closed?: Outage[]; bucket?: ReturnType<typeof fakeBucket> } = {},
  more: Partial<HookRelayOptions> = {},
) {
  const clock = { now: 1000 };
  const { engine, statuses, open, engineStatus } = fakeEngine();
  const h = fakeHooks();
  const b = opts.bucket ?? fakeBucket();
  const queries: OutageQuery[] = [];
  const outages = {
    listOutages: async (q: OutageQuery) => {
      queries.push(q);
      return (opts.closed ?? []).filter((o) => o.state === q.state);
    },
  };
  const maintenance = createMaintenanceGate({ windows: () => opts.windows ?? [], log });
  const dependencies = createDependencyGate({
    incident: (id) => statuses.get(id)?.outage,
    dependenciesDown: (id) => statuses.get(id)?.suppressedBy ?? [],
    log,
  });
  const degraded = createDegradedAnnouncements({ open: async () => b.bucket, log });
  const relay = createHookRelay({
    engine,
    outages,
    hooks: h.hooks,
    maintenance,
    dependencies,
    degraded,
    log,
    now: () => clock.now,
    retry: noDelay,
    releaseEveryMs: 0,
    ...more,
  });
  return { relay, clock, statuses, open, engineStatus, ...h, bucket: b, degraded, queries, maintenance, dependencies };
}

const ids = (events: readonly HookEvent[]) => events.map((e) => e.id);

describe("the hook relay", () => {
  it("enqueues the events of successive transitions one at a time, in order: partial.absorbed before outage.opened", async () => {
    const { relay, taken, calls, state, statuses } = setup();
    const partial = incident("partial", 1000, { state: "resolved", resolvedAt: 5000 });
    const outage = incident("outage", 5000, { startedAt: 0 });
    statuses.set("web", status("down", { outage }));
    let letGo = () => {};
    state.hold = new Promise<void>((resolve) => (letGo = resolve));

    const first = relay.onTransition({
      type: "partial.absorbed",
      checkId: "web",
      at: 5000,
      outage: partial,
      by: outage.id,
    });
    const second = relay.onTransition({ type: "outage.opened", checkId: "web", at: 5000, outage });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The opening waits for the absorption to be enqueued, however slow NATS is.
    expect(calls).toEqual(["partial:web:1000:partial.absorbed"]);
    letGo();
    await Promise.all([first, second]);
    expect(ids(taken)).toEqual(["partial:web:1000:partial.absorbed", "outage:web:5000:outage.opened"]);
    expect(taken[1]?.data).toMatchObject({ state: "down", outageId: outage.id, startedAt: 0 });
  });

  it("emits incident.abandoned then check.deleted for a deleted check, and nothing for per-region or per-agent changes", async () => {
    const { relay, taken } = setup();
    const o = incident("outage", 2000, { state: "abandoned", resolvedAt: 9000 });
    await relay.onTransition({
      type: "region.state",
      checkId: "web",
      region: "eu",
      from: "up",
      to: "down",
      at: 1,
      reason: "",
    });
    await relay.onTransition({ type: "agent.impaired", agentId: "a1", region: "eu", at: 2, reason: "canary" });
    await relay.onTransition({
      type: "incident.abandoned",
      checkId: "web",
      at: 9000,
      outage: o,
      cause: "check.deleted",
    });
    expect(ids(taken)).toEqual(["outage:web:2000:incident.abandoned", "outage:web:2000:check.deleted"]);
  });

  it("retries an enqueue until hooks take it, and never retries an event hooks refuse as malformed", async () => {
    const { relay, taken, calls, state, bucket } = setup();
    state.failNext = 3;
    await relay.onTransition({
      type: "check.error",
      checkId: "web",
      at: 2000,
      episode: `error:web:${2000}`,
      message: "boom",
    });
    expect(calls).toHaveLength(4);
    expect(ids(taken)).toEqual(["error:web:2000:check.error"]);
    expect(relay.stats()).toMatchObject({ published: 1, retries: 3, refused: 0 });

    state.refuse = true;
    await relay.onTransition({ type: "check.degraded", checkId: "web", at: 3000, episode: "degraded:web:2000" });
    expect(calls).toHaveLength(5);
    expect(relay.stats()).toMatchObject({ published: 1, refused: 1 });
    // A refused check.degraded never reached hooks: no recovery is owed for it.
    expect(bucket.data.size).toBe(0);
  });

  it("stops retrying when stopped (or when its signal aborts), and the queue still settles", async () => {
    const shutdown = new AbortController();
    const { relay, taken, calls, state } = setup(
      {},
      { retry: backoffPolicy({ initialMs: 5, jitter: "none" }), signal: shutdown.signal },
    );
    state.failNext = Number.POSITIVE_INFINITY;
    const pending = relay.onTransition({
      type: "check.error",
      checkId: "web",
      at: 2000,
      episode: `error:web:${2000}`,
      message: "boom",
    });
    await vi.waitFor(() => expect(calls.length).toBeGreaterThanOrEqual(2));
    shutdown.abort();
    await pending;
    expect(taken).toEqual([]);
    relay.stop();
    await relay.idle();
  });

  it("holds an outage opened inside a maintenance window and announces it when the window ends, still open", async () => {
    const window: MaintenanceWindow = { id: "upgrade", checks: ["web"], from: 0, to: 10 * M };
    const { relay, taken, clock, statuses } = setup({ windows: [window] });
    const outage = incident("outage", 2 * M);
    statuses.set("web", status("down", { outage }));
    clock.now = 2 * M;
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 2 * M, outage });
    expect(taken).toEqual([]);

    clock.now = 9 * M;
    await relay.release();
    expect(taken).toEqual([]);

    clock.now = 10 * M + 500;
    await relay.release();
    expect(ids(taken)).toEqual(["outage:web:120000:outage.opened"]);
    // Same id, the window's end as its time.
    expect(taken[0]?.timestamp).toBe(new Date(10 * M).toISOString());
    expect(relay.stats().released).toBe(1);

    // Its recovery after the window is announced as usual.
    const resolved = { ...outage, state: "resolved" as const, resolvedAt: 12 * M };
    statuses.set("web", status("up"));
    clock.now = 12 * M;
    await relay.onTransition({ type: "outage.resolved", checkId: "web", at: 12 * M, outage: resolved });
    expect(ids(taken)).toEqual(["outage:web:120000:outage.opened", "outage:web:120000:outage.resolved"]);
  });

  it("tells onHeld, with the fence, of what a gate holds back; hooks get none of it", async () => {
    const window: MaintenanceWindow = { id: "upgrade", checks: ["web"], from: 0, to: 10 * M };
    const held: [string, unknown, unknown][] = [];
    const { relay, taken, calls, clock, statuses } = setup(
      { windows: [window] },
      { onHeld: (e, by, fence) => void held.push([e.id, by, fence]) },
    );
    const outage = incident("outage", 2 * M);
    statuses.set("web", status("down", { outage }));
    clock.now = 2 * M;
    const fence = { partition: 1, epoch: 3 };
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 2 * M, outage }, fence);
    statuses.set("web", status("up"));
    const resolved = { ...outage, state: "resolved" as const, resolvedAt: 5 * M };
    await relay.onTransition({ type: "outage.resolved", checkId: "web", at: 5 * M, outage: resolved }, fence);
    const by = { by: "maintenance", windowId: "upgrade" };
    expect(held).toEqual([
      ["outage:web:120000:outage.opened", by, fence],
      ["outage:web:120000:outage.resolved", by, fence],
    ]);
    expect(taken).toEqual([]);
    expect(calls).toEqual([]);
  });

  it("announces nothing of an outage opened and resolved inside a maintenance window", async () => {
    const window: MaintenanceWindow = { id: "upgrade", checks: ["web"], from: 0, to: 10 * M };
    const { relay, taken, clock, statuses } = setup({ windows: [window] });
    const outage = incident("outage", 2 * M);
    statuses.set("web", status("down", { outage }));
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 2 * M, outage });
    statuses.set("web", status("up"));
    const resolved = { ...outage, state: "resolved" as const, resolvedAt: 5 * M };
    await relay.onTransition({ type: "outage.resolved", checkId: "web", at: 5 * M, outage: resolved });
    clock.now = 11 * M;
    await relay.release();
    expect(taken).toEqual([]);
  });

  it("holds an incident opened while a dependency is down, and announces it once the dependency recovers", async () => {
    const { relay, taken, clock, statuses } = setup();
    const outage = incident("outage", 2000, { suppressedBy: ["db"] });
    statuses.set("web", status("down", { outage, suppressedBy: ["db"] }));
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 2000, outage });
    clock.now = 3000;
    await relay.release();
    expect(taken).toEqual([]);

    // The database is back, the web check still down: its outage is its own now.
    statuses.set("web", status("down", { outage, suppressedBy: [] }));
    clock.now = 4000;
    await relay.release();
    expect(ids(taken)).toEqual(["outage:web:2000:outage.opened"]);
    expect(taken[0]?.timestamp).toBe(new Date(4000).toISOString());
    expect(relay.stats().released).toBe(1);
  });

  it("announces nothing of an incident that closes while its dependency is still down", async () => {
    const { relay, taken, statuses } = setup();
    const outage = incident("outage", 2000, { suppressedBy: ["db"] });
    statuses.set("web", status("down", { outage, suppressedBy: ["db"] }));
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 2000, outage });
    statuses.set("web", status("up", { suppressedBy: [] }));
    const resolved = { ...outage, state: "resolved" as const, resolvedAt: 6000 };
    await relay.onTransition({ type: "outage.resolved", checkId: "web", at: 6000, outage: resolved });
    await relay.release();
    expect(taken).toEqual([]);
  });

  it("releases held openings by itself every releaseEveryMs once started, until stopped", async () => {
    const { relay, taken, statuses } = setup({}, { releaseEveryMs: 5 });
    const outage = incident("outage", 2000, { suppressedBy: ["db"] });
    statuses.set("web", status("down", { outage, suppressedBy: ["db"] }));
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 2000, outage });
    await relay.start();
    statuses.set("web", status("down", { outage, suppressedBy: [] }));
    await vi.waitFor(() => expect(ids(taken)).toEqual(["outage:web:2000:outage.opened"]));
    relay.stop();
  });

  it("marks an announced check.degraded and clears the mark with the engine's check.recovered, one recovery only", async () => {
    const { relay, taken, statuses, bucket } = setup();
    statuses.set("web", status("degraded", { since: 2000 }));
    await relay.onTransition({ type: "check.degraded", checkId: "web", at: 2000, episode: "degraded:web:2000" });
    expect(JSON.parse(bucket.data.get("web") ?? "null")).toEqual({ at: 2000, episode: "degraded:web:2000" });

    // The engine says both: the check is up (check.state), and recovered.
    statuses.set("web", status("up", { since: 7000 }));
    const a = relay.onTransition({ type: "check.state", checkId: "web", from: "degraded", to: "up", at: 7000 });
    const b = relay.onTransition({ type: "check.recovered", checkId: "web", at: 7000, episode: "degraded:web:2000" });
    await Promise.all([a, b]);
    expect(ids(taken)).toEqual(["degraded:web:2000:check.degraded", "degraded:web:2000:check.recovered"]);
    expect(bucket.data.size).toBe(0);
  });

  it("ends the episode another owner announced: the engine's check.recovered takes the marked episode's id", async () => {
    const bucket = fakeBucket();
    // Marked by the previous owner, whose replay window reached further back than this one's.
    bucket.data.set("web", JSON.stringify({ at: 500, episode: "degraded:web:400" }));
    const { relay, taken, statuses } = setup({ bucket });
    statuses.set("web", status("degraded", { since: 2000 }));
    await relay.start();
    expect(taken).toEqual([]);
    statuses.set("web", status("up", { since: 7000 }));
    await relay.onTransition({ type: "check.recovered", checkId: "web", at: 7000, episode: "degraded:web:900" });
    expect(ids(taken)).toEqual(["degraded:web:400:check.recovered"]);
    expect(bucket.data.size).toBe(0);
    relay.stop();
  });

  it("announces a belated check.recovered for a degraded check that comes back up through an outage", async () => {
    const { relay, taken, statuses, bucket } = setup();
    statuses.set("web", status("degraded", { since: 2000 }));
    // Queued before its mark is written: the later check.state must still see it.
    const degraded = relay.onTransition({
      type: "check.degraded",
      checkId: "web",
      at: 2000,
      episode: "degraded:web:2000",
    });
    statuses.set("web", status("up", { since: 9000 }));
    const up = relay.onTransition({ type: "check.state", checkId: "web", from: "down", to: "up", at: 9000 });
    await Promise.all([degraded, up]);
    expect(ids(taken)).toEqual(["degraded:web:2000:check.degraded", "degraded:web:2000:check.recovered"]);
    expect(relay.stats().belatedRecoveries).toBe(1);
    expect(bucket.data.size).toBe(0);

    // Up again later with nothing marked: nothing more.
    await relay.onTransition({ type: "check.state", checkId: "web", from: "down", to: "up", at: 12_000 });
    expect(taken).toHaveLength(2);
  });

  it("at start, re-announces open and recently closed incidents, then the recoveries of checks degraded before the stop, before any live event", async () => {
    const bucket = fakeBucket();
    bucket.data.set("api", JSON.stringify({ at: 500 }));
    bucket.data.set("gone", JSON.stringify({ at: 600 }));
    bucket.data.set("slow", JSON.stringify({ at: 700 }));
    const now = 2 * 3_600_000;
    const old = incident("outage", now - 2 * 3_600_000, {
      id: "outage:web:old",
      state: "resolved",
      resolvedAt: now - 3_500_000,
    });
    const recent = incident("outage", now - 600_000, {
      id: "outage:web:recent",
      state: "resolved",
      resolvedAt: now - 300_000,
    });
    const { relay, taken, statuses, open, clock, queries } = setup({ bucket, closed: [old, recent] });
    clock.now = now;
    const current = incident("partial", now - 60_000, { checkId: "db", id: "partial:db:open" });
    open.push(current);
    statuses.set("db", status("partial", { checkId: "db", outage: current }));
    statuses.set("web", status("up"));
    statuses.set("api", status("up", { checkId: "api", since: now - 1000 }));
    statuses.set("slow", status("degraded", { checkId: "slow" }));

    const started = relay.start();
    const live = relay.onTransition({
      type: "check.error",
      checkId: "web",
      at: now,
      episode: `error:web:${now}`,
      message: "boom",
    });
    await Promise.all([started, live]);
    expect(queries).toEqual([
      { from: now - 3_600_000, state: "resolved" },
      { from: now - 3_600_000, state: "abandoned" },
    ]);
    expect(ids(taken)).toEqual([
      "partial:db:open:partial.opened",
      // Confirmed before the dedupe window: only its end is announced again.
      "outage:web:old:outage.resolved",
      "outage:web:recent:outage.opened",
      "outage:web:recent:outage.resolved",
      `api:check.recovered:${now - 1000}`,
      `error:web:${now}:check.error`,
    ]);
    // api recovered (cleared), gone was deleted (forgotten), slow is still degraded (kept).
    expect([...bucket.data.keys()]).toEqual(["slow"]);
    expect(relay.stats()).toMatchObject({ reannounced: 4, belatedRecoveries: 1, published: 6 });
    relay.stop();
  });

  it("at start, re-announces open incidents only when closed ones cannot be read, and gates what it re-announces", async () => {
    const window: MaintenanceWindow = { id: "upgrade", checks: ["db"], from: 0, to: 10 * M };
    const { relay, taken, statuses, open, clock } = setup(
      { windows: [window] },
      {
        outages: { listOutages: () => Promise.reject(new Error("clickhouse: timeout")) },
      },
    );
    clock.now = 5 * M;
    const inWindow = incident("outage", 2 * M, { checkId: "db", id: "outage:db:held" });
    const other = incident("outage", 3 * M, { id: "outage:web:open" });
    open.push(inWindow, other);
    statuses.set("db", status("down", { checkId: "db", outage: inWindow }));
    statuses.set("web", status("down", { outage: other }));
    await relay.start();
    expect(ids(taken)).toEqual(["outage:web:open:outage.opened"]);
    clock.now = 10 * M;
    await relay.release();
    expect(ids(taken)).toEqual(["outage:web:open:outage.opened", "outage:db:held:outage.opened"]);
    relay.stop();
  });

  it("goes on with the next transition when a step fails unexpectedly", async () => {
    const { relay, taken, statuses, engineStatus } = setup();
    statuses.set("web", status("degraded", { since: 2000 }));
    await relay.onTransition({ type: "check.degraded", checkId: "web", at: 2000, episode: "degraded:web:2000" });
    // The transition's own read succeeds; the belated-recovery step's, when its turn comes, fails.
    engineStatus.failIn = 2;
    await relay.onTransition({ type: "check.state", checkId: "web", from: "down", to: "up", at: 5000 });
    statuses.set("web", status("down"));
    await relay.onTransition({
      type: "check.error",
      checkId: "web",
      at: 6000,
      episode: `error:web:${6000}`,
      message: "boom",
    });
    expect(ids(taken)).toEqual(["degraded:web:2000:check.degraded", "error:web:6000:check.error"]);
    expect(relay.stats().failures).toBe(1);
  });

  it("passes the fence on with each event, and drops (counts) the events of a lease that no longer holds", async () => {
    let held = true;
    const { relay, taken, hooks, statuses } = setup(
      {},
      { leases: { holds: (p: number, e?: number) => held && p === 3 && e === 9 } },
    );
    const outage = incident("outage", 5000);
    statuses.set("web", status("down", { outage }));
    await relay.onTransition({ type: "outage.opened", checkId: "web", at: 5000, outage }, { partition: 3, epoch: 9 });
    expect(taken.map((e) => e.type)).toEqual(["outage.opened"]);
    expect(hooks.fences).toEqual([{ fence: { partition: 3, epoch: 9 } }]);

    held = false;
    const done = { ...outage, state: "resolved" as const, resolvedAt: 9000 };
    statuses.set("web", status("up"));
    await relay.onTransition(
      { type: "outage.resolved", checkId: "web", at: 9000, outage: done },
      { partition: 3, epoch: 9 },
    );
    expect(taken).toHaveLength(1);
    expect(relay.stats()).toMatchObject({ fencedOff: 1, published: 1 });
  });
});
