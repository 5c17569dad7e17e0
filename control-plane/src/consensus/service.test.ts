import { checkFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { OutageStore } from "../store/outages.js";
import type { ResultRow } from "../store/types.js";
import { createConsensusEngine } from "./engine.js";
import { createConsensusService } from "./service.js";
import type { Observation, Outage, Transition } from "./types.js";

const log = pino({ level: "silent" });
const R3 = ["eu-west", "us-east", "ap-south"];
const I = 10_000;

function row(region: string, startedAt: number, state: "up" | "down", checkId = "web"): ResultRow {
  return {
    id: `${checkId}-${region}-${startedAt}`,
    checkId,
    checkVersion: 1,
    agentId: `agent-${region}`,
    region,
    provider: "test",
    startedAt,
    durationMs: 5,
    state,
    reason: state === "down" ? "connect" : "",
    message: "",
    phases: { dnsMs: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, transferMs: 0 },
    seq: startedAt,
    attempts: 1,
    target: "",
    canary: false,
    lagMs: 0,
    httpStatus: 0,
    bodyBytes: 0,
    details: {},
  };
}

/** An outage store in memory that can be told to fail. */
function fakeStore(open: Outage[] = [], recent: Observation[] = []) {
  const saved = new Map<string, Outage>();
  let failures = 0;
  const store: Pick<OutageStore, "saveOutages" | "openIncidents" | "recentObservations"> = {
    async saveOutages(list) {
      if (failures > 0) {
        failures--;
        throw new Error("ClickHouse is down");
      }
      for (const o of list) saved.set(o.id, o);
    },
    async openIncidents() {
      return open;
    },
    async recentObservations() {
      return recent;
    },
  };
  return { store, saved, failNext: (n: number) => (failures = n) };
}

async function setup(opts: { open?: Outage[]; recent?: Observation[]; start?: number } = {}) {
  let clock = opts.start ?? 1_000_000;
  // The same uid every time: a second setup is the same check after a restart.
  const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => "uid-web" });
  await registry.create(checkFixture("web", { intervalMs: I, timeoutMs: 2000, regions: R3 }));
  const engine = createConsensusEngine({ now: () => clock });
  const store = fakeStore(opts.open, opts.recent);
  const seen: Transition[] = [];
  const service = createConsensusService({
    engine,
    outageStore: store.store,
    registry,
    log,
    now: () => clock,
    tickMs: 10,
    onTransition: (t) => void seen.push(t),
  });
  await service.start();
  const feed = (state: Record<string, "up" | "down">) => {
    const rows = Object.entries(state).map(([region, s], i) => row(region, clock + i, s));
    clock += 10;
    service.onStored(rows);
    clock += I;
  };
  return { engine, service, store, registry, seen, feed, clock: () => clock, setClock: (t: number) => (clock = t) };
}

describe("consensus service", () => {
  it("follows the registry, feeds stored rows to the engine, saves incidents and hands transitions on", async () => {
    const m = await setup();
    expect(m.engine.policy("web")?.regions).toEqual(["ap-south", "eu-west", "us-east"]);
    for (let k = 0; k < 2; k++) m.feed({ "eu-west": "down", "us-east": "down", "ap-south": "up" });
    await m.service.flush();
    const opened = m.seen.find((t) => t.type === "outage.opened");
    expect(opened).toBeDefined();
    const outages = [...m.store.saved.values()].filter((o) => o.kind === "outage");
    expect(outages).toEqual([expect.objectContaining({ state: "open", regions: ["eu-west", "us-east"] })]);
    // A registry edit reaches the engine: quorum "all" turns the outage into a partial.
    await m.registry.replace(checkFixture("web", { intervalMs: I, timeoutMs: 2000, regions: R3, quorum: "all" }));
    await m.service.flush();
    expect(m.engine.status("web")?.state).toBe("partial");
    expect([...m.store.saved.values()].find((o) => o.kind === "outage")?.state).toBe("resolved");
    // Deleting the check abandons what is open (the regions still down): a deletion is not a recovery.
    await m.registry.delete("web");
    await m.service.flush();
    const regions = [...m.store.saved.values()].filter((o) => o.kind === "region");
    expect(regions.length).toBeGreaterThan(0);
    expect(regions.every((o) => o.state === "abandoned")).toBe(true);
    expect(m.seen.filter((t) => t.type === "incident.abandoned")).toHaveLength(regions.length);
    expect(m.service.stats()).toMatchObject({ rowsReceived: 6, pendingSaves: 0, saveFailures: 0 });
    await m.service.stop();
  });

  it("keeps incidents while ClickHouse is down and saves them when it is back", async () => {
    const m = await setup();
    m.store.failNext(2);
    for (let k = 0; k < 2; k++) m.feed({ "eu-west": "down", "us-east": "down", "ap-south": "down" });
    await expect(m.service.flush()).rejects.toThrow(/ClickHouse is down/);
    expect(m.service.stats().pendingSaves).toBeGreaterThan(0);
    // The 10 ms tick retries on its own.
    const deadline = Date.now() + 5000;
    while (m.service.stats().pendingSaves > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(m.service.stats()).toMatchObject({ pendingSaves: 0, saveFailures: 2 });
    expect([...m.store.saved.values()].filter((o) => o.kind === "outage" && o.state === "open")).toHaveLength(1);
    await m.service.stop();
  });

  it("after a restart adopts the stored open outage and later resolves that same id", async () => {
    const first = await setup();
    for (let k = 0; k < 2; k++) first.feed({ "eu-west": "down", "us-east": "down", "ap-south": "down" });
    await first.service.flush();
    await first.service.stop();
    const open = [...first.store.saved.values()].filter((o) => o.state === "open");
    const stored = open.find((o) => o.kind === "outage")!;
    const recent: Observation[] = R3.flatMap((region) =>
      [first.clock() - 2 * I, first.clock() - I].map((t) => ({
        checkId: "web",
        agentId: `agent-${region}`,
        region,
        startedAt: t,
        durationMs: 5,
        state: "down" as const,
        reason: "connect",
        canary: false,
      })),
    );

    const second = await setup({ open, recent, start: first.clock() + 1000 });
    expect(second.seen.filter((t) => t.type === "outage.opened")).toEqual([]);
    expect(second.engine.status("web")?.outage?.id).toBe(stored.id);
    expect(second.service.stats().warmUpResults).toBe(6);
    for (let k = 0; k < 2; k++) second.feed({ "eu-west": "up", "us-east": "up", "ap-south": "up" });
    await second.service.flush();
    expect(second.store.saved.get(stored.id)).toMatchObject({ state: "resolved" });
    await second.service.stop();
  });

  it("saves an open outage again when a region joins it, before it resolves", async () => {
    const m = await setup();
    for (let k = 0; k < 2; k++) m.feed({ "eu-west": "down", "us-east": "down", "ap-south": "up" });
    await m.service.flush();
    const opened = m.seen.find((t) => t.type === "outage.opened");
    const outageId = opened && "outage" in opened ? opened.outage.id : "";
    expect(m.store.saved.get(outageId)).toMatchObject({ state: "open", regions: ["eu-west", "us-east"] });
    for (let k = 0; k < 2; k++) m.feed({ "eu-west": "down", "us-east": "down", "ap-south": "down" });
    // No transition announces the joining region; the 10 ms tick saves the grown record.
    const deadline = Date.now() + 5000;
    while (m.store.saved.get(outageId)?.regions.length !== 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(m.store.saved.get(outageId)).toMatchObject({ state: "open", regions: ["ap-south", "eu-west", "us-east"] });
    await m.service.stop();
  });

  it("ticks: a region that goes silent becomes unknown without any new result", async () => {
    const m = await setup();
    m.feed({ "eu-west": "up", "us-east": "up", "ap-south": "up" });
    m.setClock(m.clock() + 10 * I);
    await new Promise((r) => setTimeout(r, 50));
    expect(m.engine.status("web")?.state).toBe("unknown");
    expect(m.seen.some((t) => t.type === "region.state" && t.to === "unknown")).toBe(true);
    await m.service.stop();
  });

  it("a throwing transition handler is logged, not fatal", async () => {
    // The same uid every time: a second setup is the same check after a restart.
    const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => "uid-web" });
    await registry.create(checkFixture("web", { intervalMs: I, timeoutMs: 2000, regions: ["eu-west"] }));
    const engine = createConsensusEngine({ now: () => 5_000 });
    const service = createConsensusService({
      engine,
      outageStore: fakeStore().store,
      registry,
      log,
      now: () => 5_000,
      onTransition: () => {
        throw new Error("hook bus down");
      },
    });
    await service.start();
    expect(() => service.onStored([row("eu-west", 4_000, "up")])).not.toThrow();
    expect(engine.status("web")?.state).toBe("up");
    await service.stop();
  });
});
