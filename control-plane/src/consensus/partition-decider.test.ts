import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState, partitionOf, resultSubject } from "@probemesh/proto";
import { checkFixture, probeResultFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { PartitionLease } from "../cluster/types.js";
import { followChecks } from "../ingest/follow-checks.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createConsensusEngine } from "./engine.js";
import type { IncidentKv } from "./incident-kv.js";
import { createIncidentSaver } from "./incident-saver.js";
import { createPartitionDecider } from "./partition-decider.js";
import type { FeedHandlers, FeedMessage, OpenFeed } from "./result-feed.js";
import type { Outage, Transition } from "./types.js";

const log = pino({ level: "silent" });
const R3 = ["eu-west", "us-east", "ap-south"];
const I = 10_000;
const P = 4;
const UID = "uid-web";
const PART = partitionOf(UID, P);

/** The results stream in memory: what was published, replayed to each new feed, then live. */
function memoryStream() {
  const published: { at: number; m: FeedMessage }[] = [];
  const live = new Set<FeedHandlers>();
  const open: OpenFeed = async (req, handlers) => {
    const backlog = published.filter((e) => e.at >= req.since).map((e) => e.m);
    live.add(handlers);
    // Delivered after open() resolves, like a consumer.
    queueMicrotask(() => {
      for (const m of backlog) handlers.message(m);
      handlers.caughtUp();
    });
    return { stop: async () => void live.delete(handlers) };
  };
  return {
    open,
    publish(at: number, m: FeedMessage) {
      published.push({ at, m });
      for (const h of live) h.message(m);
    },
  };
}

function memoryIncidents() {
  const kv = new Map<string, Outage>();
  const incidents: IncidentKv = {
    put: async (p, o) => void kv.set(`p${p}.${o.id}`, o),
    delete: async (p, id) => void kv.delete(`p${p}.${id}`),
    list: async (p) => [...kv.entries()].filter(([k]) => k.startsWith(`p${p}.`)).map(([, o]) => o),
    listAll: async () => [...kv.values()],
  };
  return { kv, incidents };
}

async function eventually(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function world() {
  let clock = 1_000_000;
  const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => UID });
  await registry.create(checkFixture("web", { intervalMs: I, timeoutMs: 2000, regions: R3 }));
  const checks = followChecks(registry);
  const stream = memoryStream();
  const { kv, incidents } = memoryIncidents();
  const saved = new Map<string, Outage>();
  const saver = createIncidentSaver({
    outageStore: { saveOutages: async (list) => void list.forEach((o) => saved.set(o.id, o)) },
    log,
  });
  let seq = 0;
  /** One round: every region reports `state` (as agents publish on partitioned subjects). */
  const round = (state: "up" | "down") => {
    R3.forEach((region, i) => {
      const r = probeResultFixture({
        id: `r-${++seq}`,
        checkId: "web",
        agentId: `agent-${region}`,
        region,
        startedAtMs: BigInt(clock + i),
        durationMs: 5,
        state: state === "up" ? ProbeState.UP : ProbeState.DOWN,
        reason: state === "down" ? "connect" : "",
      });
      stream.publish(clock, {
        subject: resultSubject(region, `agent-${region}`, PART),
        data: toBinary(ProbeResultSchema, r),
      });
    });
    clock += I;
  };

  /** A decider of the partition at `epoch`, whose lease holds while `lease.held`. */
  function decider(epoch: number) {
    const lease = { held: true };
    const seen: { t: Transition; fence: PartitionLease }[] = [];
    const d = createPartitionDecider({
      lease: { partition: PART, epoch },
      partitions: P,
      leases: { holds: (p, e) => lease.held && p === PART && e === epoch },
      engine: createConsensusEngine({ now: () => clock }),
      checks: [checks.record("web")!],
      registry: checks,
      openFeed: stream.open,
      incidents,
      saver,
      onTransition: (t, fence) => void seen.push({ t, fence }),
      log,
      now: () => clock,
      tickMs: 10,
    });
    return { d, seen, lease };
  }
  return { round, decider, kv, saved, saver, clock: () => clock, advance: (ms: number) => (clock += ms) };
}

const types = (seen: { t: Transition }[]) => seen.map((s) => s.t.type);

describe("partition decider", () => {
  it("decides live results: incidents go to KV while open, leave it when closed, and carry the fence", async () => {
    const w = await world();
    const { d, seen } = w.decider(7);
    await d.start();
    expect(d.stats()).toMatchObject({ live: true, warmUpResults: 0, partition: PART, epoch: 7 });
    for (let k = 0; k < 2; k++) w.round("down");
    const opened = seen.find((s) => s.t.type === "outage.opened");
    expect(opened?.fence).toEqual({ partition: PART, epoch: 7 });
    const id = d.status("web")?.outage?.id ?? "";
    expect(id).toMatch(/^outage:web:/);
    await eventually("outage in KV", () => w.kv.has(`p${PART}.${id}`));
    expect(w.kv.get(`p${PART}.${id}`)).toMatchObject({ state: "open", regions: R3.slice().sort() });

    for (let k = 0; k < 2; k++) w.round("up");
    expect(types(seen)).toContain("outage.resolved");
    await eventually("closed incidents leave KV", () => w.kv.size === 0);
    await w.saver.flush();
    expect(w.saved.get(id)).toMatchObject({ state: "resolved" });
    await d.stop();
  });

  it("a takeover warms up from KV and the replayed stream: the outage is adopted, never re-opened nor resolved unseen", async () => {
    const w = await world();
    const first = w.decider(1);
    await first.d.start();
    for (let k = 0; k < 3; k++) w.round("down");
    const id = first.d.status("web")?.outage?.id;
    expect(id).toBeDefined();
    await eventually("outage in KV", () => w.kv.size > 0);
    await first.d.stop();

    // The new owner replays the down results within its lookback.
    const second = w.decider(2);
    await second.d.start();
    expect(second.d.stats().warmUpResults).toBeGreaterThan(0);
    expect(second.d.status("web")?.outage?.id).toBe(id);
    expect(types(second.seen).filter((t) => t === "outage.opened" || t.endsWith(".resolved"))).toEqual([]);
    await second.d.stop();

    // One that replays nothing (the results are older than its lookback) keeps the incident open too.
    w.advance(10 * 60_000);
    const third = w.decider(3);
    await third.d.start();
    expect(third.d.stats().warmUpResults).toBe(0);
    w.advance(I);
    await new Promise((r) => setTimeout(r, 50)); // a few ticks
    expect(types(third.seen).filter((t) => t.endsWith(".resolved"))).toEqual([]);
    expect([...w.kv.values()].map((o) => o.id)).toContain(id);
    await third.d.stop();
  });

  it("once the lease is lost nothing more is handed on or written", async () => {
    const w = await world();
    const { d, seen, lease } = w.decider(1);
    await d.start();
    w.round("up");
    const before = seen.length;
    lease.held = false;
    for (let k = 0; k < 3; k++) w.round("down");
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.length).toBe(before);
    expect(w.kv.size).toBe(0);
    expect(d.stats().fencedOff).toBeGreaterThan(0);
    await d.stop();
  });

  it("drops results of checks of other partitions and of no live check", async () => {
    const w = await world();
    const { d } = w.decider(1);
    await d.start();
    w.round("up");
    expect(d.stats()).toMatchObject({ messages: 3, unattributed: 0, otherPartition: 0, observed: 3 });
    await d.stop();
  });
});
