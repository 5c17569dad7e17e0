import { fromBinary } from "@bufbuild/protobuf";
import { partitionOf, ProbeResultSchema, type ProbeResult } from "@probemesh/proto";
import { checkFixture, type CheckInit } from "@probemesh/proto/testing";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createAgent, type Agent, type ManagedSink } from "./agent.js";
import { startingReplica } from "./control-plane-replicas.js";
import type { AgentConfig } from "./config.js";
import type { Prober } from "./probes/types.js";
import { StateDirLockedError } from "./state-lock.js";
import { startFakeControlPlane } from "./testing/fake-control-plane.js";

const log = pino({ level: "silent" });
const TOKEN = "tok";
const check = (id: string, fields: CheckInit = {}) =>
  checkFixture(id, { type: "fake", intervalMs: 100, timeoutMs: 80, ...fields });

function memorySink(): ManagedSink & { results: ProbeResult[]; subjects: Map<string, Set<string>> } {
  const results: ProbeResult[] = [];
  /** Subjects results were published on, by check id. */
  const subjects = new Map<string, Set<string>>();
  return {
    results,
    subjects,
    publish: async (subject, data) => {
      const result = fromBinary(ProbeResultSchema, data);
      results.push(result);
      subjects.set(result.checkId, (subjects.get(result.checkId) ?? new Set()).add(subject));
    },
    isUp: () => true,
    onUpChange: () => () => undefined,
  };
}

const fakeProber: Prober = {
  type: "fake",
  run: async () => [
    { state: "up", reason: "", message: "", phases: { connectMs: 1 }, target: "t", durationMs: 1, attempts: 1 },
  ],
};

async function until(what: string, cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(stateDir: string, grpcPort: number | number[]): AgentConfig {
  return {
    grpcAddrs: (typeof grpcPort === "number" ? [grpcPort] : grpcPort).map((p) => `127.0.0.1:${p}`),
    agentToken: TOKEN,
    agentId: "agent-1",
    region: "eu-west",
    provider: "test",
    natsServers: ["nats://127.0.0.1:1"],
    stateDir,
    logLevel: "silent",
    maxConcurrency: 8,
    outboxMaxBytes: 1024 * 1024,
    publishLingerMs: 0,
    insecure: false,
  };
}

function makeAgent(
  stateDir: string,
  grpcPort: number | number[],
  sink = memorySink(),
): { agent: Agent; sink: ReturnType<typeof memorySink> } {
  const agent = createAgent({
    config: config(stateDir, grpcPort),
    log,
    probers: new Map([["fake", fakeProber]]),
    sink,
    heartbeatIntervalMs: 100,
    backoff: { initialMs: 50, maxMs: 200 },
    statsLogIntervalMs: 0,
  });
  cleanups.push(() => agent.stop({ waitMs: 100 }));
  return { agent, sink };
}

describe("agent wiring", () => {
  it("moves to the second control-plane replica when the first stops, and keeps probing its checks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-wiring-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [first, second] = await Promise.all([
      startFakeControlPlane({ checks: () => [check("a")] }),
      startFakeControlPlane({ checks: () => [check("a")] }),
    ]);
    cleanups.push(first.stop, second.stop);
    // "agent-1" starts at index startingReplica("agent-1", 2) of the list: put the first there.
    const ports = startingReplica("agent-1", 2) === 0 ? [first.port, second.port] : [second.port, first.port];
    const { agent, sink } = makeAgent(dir, ports);
    await agent.start();
    await until("results", () => sink.results.length >= 3);
    expect(first.watches).toHaveLength(1);
    expect(second.watches).toHaveLength(0);
    await until("a heartbeat on the first", () => first.heartbeats.length > 0);

    first.stop();
    const before = sink.results.length;
    await until("connected to the second", () => second.streams.size === 1 && agent.stats().assignments.connected);
    expect(agent.stats().assignments).toMatchObject({ addr: `127.0.0.1:${second.port}`, replicaMoves: 1 });
    await until("heartbeats on the second", () => second.heartbeats.length > 0);
    await until("results keep coming", () => sink.results.length >= before + 5);
    expect(agent.stats().scheduler.checks).toBe(1);
    const seqs = sink.results.map((r) => Number(r.seq));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });

  it("probes what the control plane assigns and publishes results with increasing seq", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-wiring-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cp = await startFakeControlPlane({ checks: () => [check("a"), check("b")] });
    cleanups.push(cp.stop);
    const { agent, sink } = makeAgent(dir, cp.port);
    await agent.start();
    await until(
      "results of both checks",
      () => new Set(sink.results.map((r) => r.checkId)).size === 2 && sink.results.length >= 6,
    );
    const seqs = sink.results.map((r) => Number(r.seq));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(sink.results[0]).toMatchObject({ agentId: "agent-1", region: "eu-west", provider: "test" });
    await until("heartbeat", () => cp.heartbeats.length > 0);
    expect(cp.heartbeats[0]?.agent?.capabilities).toEqual(["fake"]);

    // A removal through a delta stops the check.
    cp.delta(2n, [], ["a"]);
    await until("removal applied", () => agent.stats().scheduler.checks === 1);
    const countA = sink.results.filter((r) => r.checkId === "a").length;
    await new Promise((r) => setTimeout(r, 400));
    expect(sink.results.filter((r) => r.checkId === "a").length).toBe(countA);
    expect(sink.results.filter((r) => r.checkId === "b").length).toBeGreaterThan(3);
  });

  it("keeps probing from its cache after a restart while the control plane is down", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-wiring-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cp = await startFakeControlPlane({ checks: [check("cached")] });
    const first = makeAgent(dir, cp.port);
    await first.agent.start();
    await until("first results", () => first.sink.results.length >= 2);
    await first.agent.stop();
    const lastSeq = first.sink.results.at(-1)!.seq;
    cp.stop(); // the control plane is gone now

    const second = makeAgent(dir, cp.port);
    await second.agent.start();
    await until("results from the cache", () => second.sink.results.length >= 3);
    expect(second.sink.results.every((r) => r.checkId === "cached")).toBe(true);
    // Sequence numbers continue after the restart, with no gap after a clean stop.
    expect(second.sink.results[0]!.seq).toBe(lastSeq + 1n);
    expect(second.agent.stats().assignments.connected).toBe(false);
  });

  it("publishes each result on its check's partition, keeping the count from its cache across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-wiring-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const uid = "3d6f0a52-7c1b-4e2a-9f4d-8b5e6c7a1d20";
    const checks = [check("with-uid", { uid }), check("no-uid")];
    const cp = await startFakeControlPlane({ checks, partitions: 16 });
    const first = makeAgent(dir, cp.port);
    await first.agent.start();
    await until("results of both", () => first.sink.subjects.size === 2);
    const partitioned = `probemesh.results.eu-west.agent-1.${partitionOf(uid, 16)}`;
    expect([...first.sink.subjects.get("with-uid")!]).toEqual([partitioned]);
    // A check created before uids has no partition: the unpartitioned subject.
    expect([...first.sink.subjects.get("no-uid")!]).toEqual(["probemesh.results.eu-west.agent-1"]);
    await first.agent.stop();
    cp.stop();

    // Restarted with the control plane gone: the cached count still routes every result.
    const second = makeAgent(dir, cp.port);
    await second.agent.start();
    await until(
      "results from the cache",
      () => second.sink.results.filter((r) => r.checkId === "with-uid").length >= 2,
    );
    expect([...second.sink.subjects.get("with-uid")!]).toEqual([partitioned]);
  });

  it("publishes on the unpartitioned subject while the control plane announces no partitions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-wiring-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cp = await startFakeControlPlane({ checks: [check("a", { uid: "u-1" })] });
    cleanups.push(cp.stop);
    const { agent, sink } = makeAgent(dir, cp.port);
    await agent.start();
    await until("results", () => sink.results.length >= 2);
    expect([...sink.subjects.get("a")!]).toEqual(["probemesh.results.eu-west.agent-1"]);
  });

  it("refuses a state dir another live agent holds, and releases it on stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "agent-wiring-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const a = makeAgent(dir, 1);
    await a.agent.start();
    expect(existsSync(join(dir, "agent.lock"))).toBe(true);
    // Another process's pid (our parent is alive) holding the lock: simulate by a second agent in
    // this process after rewriting the lock with the parent's pid.
    writeFileSync(join(dir, "agent.lock"), `${process.ppid}\n`);
    const b = makeAgent(dir, 1);
    await expect(b.agent.start()).rejects.toThrow(StateDirLockedError);
    writeFileSync(join(dir, "agent.lock"), `${process.pid}\n`);
    await a.agent.stop();
    expect(existsSync(join(dir, "agent.lock"))).toBe(false);
  });
});
