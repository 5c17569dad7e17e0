import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState } from "@probemesh/proto";
import { probeResultFixture } from "@probemesh/proto/testing";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openOutbox } from "./outbox.js";
import { createResultPublisher, URGENT_AFTER_NOT_UP } from "./result-publisher.js";
import type { ResultSink } from "./result-sink.js";

const log = pino({ level: "silent" });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "publisher-test-"));
  dirs.push(d);
  return d;
}

/** A sink whose availability the test controls; records what it accepted, in order, and the most publishes it saw in flight at once. */
function fakeSink() {
  let up = true;
  let rejecting = false;
  const failOnce = new Set<string>();
  const accepted: string[] = [];
  /** Subject of each accepted result, by id. */
  const subjects = new Map<string, string>();
  const listeners = new Set<(up: boolean) => void>();
  const flight = { now: 0, max: 0 };
  const sink: ResultSink = {
    async publish(subject, _data, msgId) {
      flight.max = Math.max(flight.max, ++flight.now);
      try {
        await new Promise((r) => setTimeout(r, 1));
        if (!up) throw new Error("disconnected");
        if (rejecting) throw new Error("no stream");
        if (failOnce.delete(msgId)) throw new Error("ack timed out");
        expect(subject).toMatch(/^probemesh\.results\.r1\.a1(\.\d+)?$/);
        accepted.push(msgId);
        subjects.set(msgId, subject);
      } finally {
        flight.now--;
      }
    },
    isUp: () => up,
    onUpChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  return {
    sink,
    accepted,
    subjects,
    flight,
    failOnce,
    setUp(v: boolean) {
      up = v;
      for (const l of listeners) l(v);
    },
    reject(v: boolean) {
      rejecting = v;
    },
  };
}

const result = (i: number) => probeResultFixture({ id: `r${String(i).padStart(5, "0")}`, seq: BigInt(i) });
const ids = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `r${String(from + i).padStart(5, "0")}`);
async function until(cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup(dir = tempDir(), window: { lingerMs?: number; maxWindow?: number } = {}) {
  const f = fakeSink();
  /** The released seq marks, in order, and how many results the sink had accepted or the outbox held at each. */
  const released: { seq: bigint; accepted: number; outboxed: number }[] = [];
  const outbox = openOutbox({ dir, maxBytes: 1024 * 1024, segmentBytes: 8192, log });
  const pub = createResultPublisher({
    sink: f.sink,
    outbox,
    subject: "probemesh.results.r1.a1",
    log,
    retry: { initialMs: 5, maxMs: 20 },
    lingerMs: 0,
    seq: { released: (seq) => released.push({ seq, accepted: f.accepted.length, outboxed: outbox.depth() }) },
    ...window,
  });
  return { ...f, outbox, pub, dir, released };
}

describe("result publisher", () => {
  it("releases each result's seq before it is sent or written to the outbox", async () => {
    const t = setup();
    for (let i = 1; i <= 20; i++) t.pub.publish(result(i));
    await until(() => t.accepted.length === 20);
    t.setUp(false);
    for (let i = 21; i <= 30; i++) t.pub.publish(result(i));
    await until(() => t.outbox.depth() === 10);
    const marks = t.released.map((r) => r.seq);
    expect(marks.at(-1)).toBe(30n);
    expect([...marks].sort((a, b) => Number(a - b))).toEqual(marks);
    // When seq n was released, fewer than n results had reached the sink or the outbox.
    for (const r of t.released) expect(r.accepted + r.outboxed).toBeLessThan(Number(r.seq));
    await t.pub.close({ flushMs: 0 });
  });

  it("publishes directly, in order, while the sink is up", async () => {
    const t = setup();
    for (let i = 0; i < 50; i++) t.pub.publish(result(i));
    await until(() => t.accepted.length === 50);
    expect(t.accepted).toEqual(ids(0, 50));
    expect(t.pub.stats()).toMatchObject({ published: 50, outboxed: 0, pending: 0 });
    await t.pub.close();
  });

  it("holds results for the linger and sends each full window at once, in order, at most maxWindow in flight", async () => {
    // A linger far longer than the test: only full windows can go out (expiry is what the next test relies on).
    const t = setup(undefined, { lingerMs: 60_000, maxWindow: 8 });
    for (let i = 0; i < 6; i++) t.pub.publish(result(i));
    await new Promise((r) => setTimeout(r, 50));
    expect(t.accepted).toEqual([]);
    expect(t.pub.stats().pending).toBe(6);
    for (let i = 6; i < 26; i++) t.pub.publish(result(i));
    await until(() => t.accepted.length === 24);
    expect(t.accepted).toEqual(ids(0, 24));
    expect(t.flight.max).toBe(8);
    // Two results short of a window keep lingering; closing puts them in the outbox for the next start.
    expect(t.pub.stats().pending).toBe(2);
    await t.pub.close({ flushMs: 0 });
    expect(t.pub.stats()).toMatchObject({ outboxed: 2, published: 24 });
  });

  it("sends a result that is not up at once, and the next URGENT_AFTER_NOT_UP of its check, without the linger", async () => {
    // A linger far longer than the test: whatever goes out before the window fills went without it.
    const t = setup(undefined, { lingerMs: 60_000, maxWindow: 256 });
    const r = (i: number, checkId: string, state = ProbeState.UP) =>
      probeResultFixture({ id: `r${String(i).padStart(5, "0")}`, seq: BigInt(i), checkId, state });
    t.pub.publish(r(0, "web"));
    t.pub.publish(r(1, "api"));
    await new Promise((res) => setTimeout(res, 30));
    expect(t.accepted).toEqual([]);
    // A failure takes the results queued before it along, in order.
    t.pub.publish(r(2, "web", ProbeState.DOWN));
    await until(() => t.accepted.length === 3);
    expect(t.accepted).toEqual(ids(0, 3));
    // The check's next successes may decide its recovery: each goes at once too.
    for (let i = 0; i < URGENT_AFTER_NOT_UP; i++) {
      t.pub.publish(r(3 + i, "web"));
      await until(() => t.accepted.length === 4 + i);
    }
    // After them, and for another check, the linger applies again.
    t.pub.publish(r(3 + URGENT_AFTER_NOT_UP, "web"));
    t.pub.publish(r(4 + URGENT_AFTER_NOT_UP, "api"));
    await new Promise((res) => setTimeout(res, 30));
    expect(t.accepted).toEqual(ids(0, 3 + URGENT_AFTER_NOT_UP));
    expect(t.pub.stats().pending).toBe(2);
    // A degraded result counts as not up.
    t.pub.publish(r(5 + URGENT_AFTER_NOT_UP, "api", ProbeState.DEGRADED));
    await until(() => t.accepted.length === 6 + URGENT_AFTER_NOT_UP);
    expect(t.accepted).toEqual(ids(0, 6 + URGENT_AFTER_NOT_UP));
    await t.pub.close({ flushMs: 0 });
  });

  it("when one publish of a window fails, replays it and every later one from the outbox, in order", async () => {
    // Ten results, a window of 256: they go out together when the 100 ms linger expires.
    const t = setup(undefined, { lingerMs: 100 });
    t.failOnce.add("r00003");
    for (let i = 0; i < 10; i++) t.pub.publish(result(i));
    await until(() => t.outbox.depth() === 0 && t.accepted.includes("r00003"));
    for (let i = 10; i < 12; i++) t.pub.publish(result(i));
    await until(() => t.accepted.includes("r00011"));
    // The window sent r4..r9 beside the failed r3; JetStream drops their replays as duplicates
    // of their msg ids. What matters: nothing lost, and after the failure everything again in order.
    expect(new Set(t.accepted)).toEqual(new Set(ids(0, 12)));
    expect(t.accepted.slice(t.accepted.indexOf("r00003"))).toEqual(ids(3, 12));
    expect(t.pub.stats()).toMatchObject({ outboxed: 7, failures: 1 });
    await t.pub.close();
  });

  it("buffers to the outbox while the sink is down and replays in order, new results behind", async () => {
    const t = setup();
    for (let i = 0; i < 10; i++) t.pub.publish(result(i));
    await until(() => t.accepted.length === 10);
    t.setUp(false);
    for (let i = 10; i < 60; i++) t.pub.publish(result(i));
    await until(() => t.outbox.depth() === 50);
    t.setUp(true);
    // Results keep arriving during the replay: they must land after it.
    for (let i = 60; i < 100; i++) {
      t.pub.publish(result(i));
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    await until(() => t.accepted.length === 100);
    expect(t.accepted).toEqual(ids(0, 100));
    expect(t.outbox.depth()).toBe(0);
    expect(t.pub.stats().outboxed).toBeGreaterThanOrEqual(50);
    await t.pub.close();
  });

  it("treats a rejected publish (e.g. no stream yet) like an outage and retries with backoff", async () => {
    const t = setup();
    t.reject(true);
    for (let i = 0; i < 20; i++) t.pub.publish(result(i));
    await until(() => t.outbox.depth() === 20);
    await new Promise((r) => setTimeout(r, 100));
    const failures = t.pub.stats().failures;
    expect(failures).toBeGreaterThan(1);
    expect(failures).toBeLessThan(40); // backoff, not a hot loop
    t.reject(false);
    await until(() => t.accepted.length === 20);
    expect(t.accepted).toEqual(ids(0, 20));
    await t.pub.close();
  });

  it("on close with the sink down keeps every result in the outbox for the next start", async () => {
    const first = setup();
    first.setUp(false);
    for (let i = 0; i < 30; i++) first.pub.publish(result(i));
    await first.pub.close({ flushMs: 50 });
    // Next process start: same dir, sink up. The old results go first, then new ones.
    const second = setup(first.dir);
    expect(second.outbox.depth()).toBe(30);
    for (let i = 30; i < 40; i++) second.pub.publish(result(i));
    await until(() => second.accepted.length === 40);
    expect(second.accepted).toEqual(ids(0, 40));
    await second.pub.close();
  });

  it("publishes each result on the subject it was given, the default one without", async () => {
    const t = setup();
    t.pub.publish(result(0), "probemesh.results.r1.a1.3");
    t.pub.publish(result(1));
    t.pub.publish(result(2), "probemesh.results.r1.a1.15");
    await until(() => t.accepted.length === 3);
    expect(Object.fromEntries(t.subjects)).toEqual({
      r00000: "probemesh.results.r1.a1.3",
      r00001: "probemesh.results.r1.a1",
      r00002: "probemesh.results.r1.a1.15",
    });
    await t.pub.close();
  });

  it("replays outboxed results after a restart on the subjects they were built for", async () => {
    const first = setup();
    first.setUp(false);
    for (let i = 0; i < 10; i++) first.pub.publish(result(i), `probemesh.results.r1.a1.${i % 4}`);
    await first.pub.close({ flushMs: 50 });
    const second = setup(first.dir);
    expect(second.outbox.depth()).toBe(10);
    await until(() => second.accepted.length === 10);
    expect(second.accepted).toEqual(ids(0, 10));
    for (let i = 0; i < 10; i++)
      expect(second.subjects.get(ids(i, i + 1)[0]!)).toBe(`probemesh.results.r1.a1.${i % 4}`);
    await second.pub.close();
  });

  it("replays a bare result left in the outbox by an earlier release on the unpartitioned subject", async () => {
    const dir = tempDir();
    const old = openOutbox({ dir, maxBytes: 1024 * 1024, segmentBytes: 8192, log });
    old.append(toBinary(ProbeResultSchema, result(0)));
    old.close();
    const t = setup(dir);
    t.pub.publish(result(1), "probemesh.results.r1.a1.2");
    await until(() => t.accepted.length === 2);
    expect(Object.fromEntries(t.subjects)).toEqual({
      r00000: "probemesh.results.r1.a1",
      r00001: "probemesh.results.r1.a1.2",
    });
    await t.pub.close();
  });

  it("drops (and logs) a result given a subject the outbox could not keep, and goes on", async () => {
    const t = setup();
    t.pub.publish(result(0), "not a subject");
    t.pub.publish(result(1));
    await until(() => t.accepted.length === 1);
    expect(t.accepted).toEqual(["r00001"]);
    await t.pub.close();
  });

  it("on close with the sink up flushes what is in memory", async () => {
    const t = setup();
    for (let i = 0; i < 200; i++) t.pub.publish(result(i));
    await t.pub.close({ flushMs: 5000 });
    expect(t.accepted).toEqual(ids(0, 200));
  });
});
