import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState, partitionOf, resultSubject } from "@probemesh/proto";
import { checkFixture, probeResultFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { PartitionLease } from "../cluster/types.js";
import { followChecks } from "../ingest/follow-checks.js";
import { createResultBinding } from "../ingest/result-binding.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createConsensusEngine } from "./engine.js";
import type { IncidentKv } from "./incident-kv.js";
import { createIncidentSaver } from "./incident-saver.js";
import type { ConsensusEngineOptions } from "./engine.js";
import { createPartitionDecider, type PartitionDeciderOptions } from "./partition-decider.js";
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
  /** One result of `agentId` claiming `region`, on the subject of `sender` (default: the same agent and region). */
  const send = (agentId: string, region: string, state: "up" | "down", sender = { agentId, region }, i = 0) => {
    const r = probeResultFixture({
      id: `r-${++seq}`,
      checkId: "web",
      agentId,
      region,
      startedAtMs: BigInt(clock + i),
      durationMs: 5,
      state: state === "up" ? ProbeState.UP : ProbeState.DOWN,
      reason: state === "down" ? "connect" : "",
    });
    stream.publish(clock, {
      subject: resultSubject(sender.region, sender.agentId, PART),
      data: toBinary(ProbeResultSchema, r),
    });
  };
  /** One round: every region reports `state`, or its own state (absent: silent), as agents publish on partitioned subjects. */
  const round = (state: "up" | "down" | Partial<Record<string, "up" | "down">>) => {
    R3.forEach((region, i) => {
      const s = typeof state === "string" ? state : state[region];
      if (s) send(`agent-${region}`, region, s, undefined, i);
    });
    clock += I;
  };

  /** A decider of the partition at `epoch`, whose lease holds while `lease.held`. */
  function decider(
    epoch: number,
    more: Pick<PartitionDeciderOptions, "binding" | "onTransition"> & {
      mayVote?: ConsensusEngineOptions["mayVote"];
    } = {},
  ) {
    const lease = { held: true };
    const seen: { t: Transition; fence: PartitionLease }[] = [];
    const d = createPartitionDecider({
      lease: { partition: PART, epoch },
      partitions: P,
      leases: { holds: (p, e) => lease.held && p === PART && e === epoch },
      engine: createConsensusEngine({ now: () => clock, ...(more.mayVote ? { mayVote: more.mayVote } : {}) }),
      checks: [checks.record("web")!],
      registry: checks,
      openFeed: stream.open,
      incidents,
      saver,
      onTransition: more.onTransition ?? ((t, fence) => void seen.push({ t, fence })),
      ...(more.binding ? { binding: more.binding } : {}),
      log,
      now: () => clock,
      tickMs: 10,
    });
    return { d, seen, lease };
  }
  return {
    round,
    send,
    decider,
    checks,
    kv,
    saved,
    saver,
    clock: () => clock,
    advance: (ms: number) => (clock += ms),
  };
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

  it("a new owner resolves the outage it adopted under its id once results newer than its start show the recovery", async () => {
    const w = await world();
    const first = w.decider(1);
    await first.d.start();
    for (let k = 0; k < 3; k++) w.round("down");
    const id = first.d.status("web")!.outage!.id;
    await eventually("outage in KV", () => w.kv.size > 0);
    await first.d.stop();

    const second = w.decider(2);
    await second.d.start();
    for (let k = 0; k < 2; k++) w.round("up");
    const resolved = second.seen.filter((s) => s.t.type === "outage.resolved");
    expect(resolved.map((s) => ("outage" in s.t ? s.t.outage.id : ""))).toEqual([id]);
    expect(resolved[0]?.fence).toEqual({ partition: PART, epoch: 2 });
    await eventually("closed incidents leave KV", () => w.kv.size === 0);
    await w.saver.flush();
    expect(w.saved.get(id)).toMatchObject({ state: "resolved" });
    await second.d.stop();
  });

  it("writes an open outage again (KV and ClickHouse) when a region joins it, though no transition says so", async () => {
    const w = await world();
    const { d, seen } = w.decider(1);
    await d.start();
    for (let k = 0; k < 2; k++) w.round({ "eu-west": "down", "us-east": "down", "ap-south": "up" });
    const id = d.status("web")!.outage!.id;
    await eventually("outage in KV", () => w.kv.has(`p${PART}.${id}`));
    expect(w.kv.get(`p${PART}.${id}`)?.regions).toEqual(["eu-west", "us-east"]);
    const before = seen.length;
    for (let k = 0; k < 2; k++) w.round("down");
    // Region transitions only: the 10 ms tick writes the grown record.
    expect(seen.slice(before).filter((s) => "outage" in s.t && s.t.outage.kind !== "region")).toEqual([]);
    await eventually("grown in KV", () => w.kv.get(`p${PART}.${id}`)?.regions.length === 3);
    await eventually("grown in ClickHouse", () => w.saved.get(id)?.regions.length === 3);
    await d.stop();
  });

  it("ticks: regions that fall silent become unknown without any new result", async () => {
    const w = await world();
    const { d, seen } = w.decider(1);
    await d.start();
    w.round("up");
    expect(d.status("web")?.state).toBe("up");
    w.advance(10 * I);
    await eventually("unknown", () => d.status("web")?.state === "unknown");
    expect(seen.some((s) => s.t.type === "region.state" && s.t.to === "unknown")).toBe(true);
    await d.stop();
  });

  it("a throwing transition handler is logged, not fatal: deciding goes on", async () => {
    const w = await world();
    const { d } = w.decider(1, {
      onTransition: () => {
        throw new Error("hook bus down");
      },
    });
    await d.start();
    for (let k = 0; k < 2; k++) w.round("down");
    expect(d.status("web")?.state).toBe("down");
    await eventually("outage in KV", () => w.kv.size > 0);
    await d.stop();
  });

  it("applies the sender binding to replayed and live results alike: forged ones are counted and never vote", async () => {
    const w = await world();
    const enrollments = createMemoryEnrollments();
    for (const r of R3) await enrollments.enroll({ id: `agent-${r}`, region: r, provider: "test" });
    await enrollments.enroll({ id: "agent-gone", region: "eu-west", provider: "test" });
    await enrollments.revoke("agent-gone");
    const binding = createResultBinding({ enrollments, check: w.checks.get, partitions: P });
    const forge = () => {
      // Invented agents of invented regions, a revoked agent, another agent's identity on eu-west's subject.
      for (const region of ["x1", "x2", "x3", "x4"]) w.send(`ghost-${region}`, region, "down");
      w.send("agent-gone", "eu-west", "down");
      w.send("agent-us-east", "us-east", "down", { agentId: "agent-eu-west", region: "eu-west" });
    };
    w.round("up");
    forge(); // in the stream before the decider starts: replayed at warm-up
    const { d, seen } = w.decider(1, { binding, mayVote: (id, region) => enrollments.mayVote(id, region) });
    await d.start();
    expect(d.stats().warmUpResults).toBe(3);
    for (let k = 0; k < 3; k++) {
      forge();
      w.round("up");
    }
    expect(d.stats()).toMatchObject({ untrusted: 4 * 6, observed: 3 + 3 * 3 });
    expect(d.status("web")?.state).toBe("up");
    expect(Object.keys(d.status("web")!.regions).sort()).toEqual([...R3].sort());
    expect(seen.filter((s) => s.t.type === "outage.opened" || s.t.type === "partial.opened")).toEqual([]);
    await d.stop();
  });
});
