// JetStream -> ClickHouse ingest on real servers: rows land, duplicates collapse, malformed messages are
// terminated without blocking the stream, a row the store refuses is cut out of its batch, nothing is
// lost while ClickHouse is down, and a restarted ingest resumes from its durable consumer.
import { toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ProbeResultSchema, ProbeState, RESULTS_STREAM, resultSubject, type ProbeResult } from "@probemesh/proto";
import { probeResultFixture, type ProbeResultInit } from "@probemesh/proto/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIngest, ensureResultsStream, type Ingest } from "../control-plane/src/ingest/index.js";
import { createClickHouseStore, type ClickHouseStore } from "../control-plane/src/store/clickhouse-store.js";
import type { ResultRow } from "../control-plane/src/store/types.js";
import { startClickHouse, startNats, waitFor, type ClickHouseServer, type NatsServer } from "./harness/index.js";

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const T0 = Date.UTC(2024, 4, 1, 12);
const DURABLE = "probemesh-ingest";

let seq = 0;
function result(checkId: string, i: number, over: ProbeResultInit = {}): ProbeResult {
  return probeResultFixture({
    id: `${checkId}-${i}`,
    checkId,
    checkVersion: 1,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "test",
    startedAtMs: BigInt(T0 + i * 1000),
    durationMs: 5 + i,
    state: i % 3 === 0 ? ProbeState.DOWN : ProbeState.UP,
    reason: i % 3 === 0 ? "timeout" : "",
    phases: { dnsMs: 1, connectMs: 1, ttfbMs: 2 },
    seq: BigInt(++seq),
    attempts: 1,
    target: "127.0.0.1:1",
    httpStatus: i % 3 === 0 ? 0 : 200,
    ...over,
  } as ProbeResultInit);
}

describe("ingest: JetStream -> ClickHouse on real servers", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let store: ClickHouseStore;
  let ingest: Ingest;
  const stored: ResultRow[][] = [];
  /**
   * Result ids whose values are spoiled (a NaN duration) on their way to the real store, whose own
   * row validation then refuses them: how a row the store cannot take is simulated.
   */
  const spoiled = new Set<string>();
  const spoiling = {
    insertResults: (rows: ResultRow[]) =>
      store.insertResults(rows.map((r) => (spoiled.has(r.id) ? { ...r, durationMs: Number.NaN } : r))),
  };

  async function publish(r: ProbeResult, msgID = r.id): Promise<boolean> {
    const ack = await js.publish(resultSubject(r.region, r.agentId), toBinary(ProbeResultSchema, r), { msgID });
    return ack.duplicate;
  }

  async function publishRaw(bytes: Uint8Array): Promise<void> {
    await js.publish(resultSubject("eu-west", "agent-bad"), bytes);
  }

  const query = (checkId: string) => store.queryResults({ checkId, from: 0, to: T0 * 2, limit: 10_000 });

  async function waitForRows(checkId: string, n: number, timeoutMs = 20_000): Promise<ResultRow[]> {
    return await waitFor(
      `${n} rows of ${checkId}`,
      async () => {
        const rows = await query(checkId);
        return rows.length >= n ? rows : undefined;
      },
      timeoutMs,
    );
  }

  async function consumerState(): Promise<{ unacked: number; undelivered: number }> {
    const info = await jsm.consumers.info(RESULTS_STREAM, DURABLE);
    return { unacked: info.num_ack_pending, undelivered: info.num_pending };
  }

  const newIngest = () =>
    createIngest({
      nc,
      store: spoiling,
      log,
      batchSize: 50,
      flushMs: 100,
      retryMinMs: 200,
      retryMaxMs: 1_000,
      onStored: (rows) => void stored.push(rows),
    });

  beforeAll(async () => {
    [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
    store = createClickHouseStore({ url: ch.url, database: "pm_ingest", log });
    await store.migrate();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const info = await ensureResultsStream(jsm);
    expect(info.config.duplicate_window).toBe(120_000_000_000);
    ingest = newIngest();
    await ingest.start();
  });

  afterAll(async () => {
    await ingest?.stop();
    await nc?.close();
    await store?.close();
    await Promise.all([nats?.dispose(), ch?.dispose()]);
  });

  it("creates the results stream once and keeps it when ensured again", async () => {
    const again = await ensureResultsStream(jsm);
    expect(again.config).toMatchObject({ name: RESULTS_STREAM, subjects: ["probemesh.results.>"], storage: "file" });
    expect(again.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    const shorter = await ensureResultsStream(jsm, { maxAgeMs: 24 * 3600_000 });
    expect(shorter.config.max_age).toBe(24 * 3600 * 1e9);
    await ensureResultsStream(jsm);
  });

  it("stores published results as rows, in batches, and calls onStored after the insert", async () => {
    const results = Array.from({ length: 120 }, (_, i) =>
      result("land", i, { region: ["eu-west", "us-east", "ap-south"][i % 3]!, agentId: `agent-${i % 3}` }),
    );
    await Promise.all(results.map((r) => publish(r)));
    const rows = await waitForRows("land", 120);
    expect(rows).toHaveLength(120);
    expect(new Set(rows.map((r) => r.region))).toEqual(new Set(["eu-west", "us-east", "ap-south"]));
    const r7 = rows.find((r) => r.id === "land-7")!;
    expect(r7).toMatchObject({ checkId: "land", startedAt: T0 + 7000, state: "up", httpStatus: 200, durationMs: 12 });
    // onStored runs right after each insert is acked, so it may trail the rows by a moment.
    await waitFor(
      "onStored saw every row",
      () =>
        new Set(
          stored
            .flat()
            .filter((r) => r.checkId === "land")
            .map((r) => r.id),
        ).size === 120,
    );
    expect(Math.max(...stored.map((b) => b.length))).toBeLessThanOrEqual(50);
    await waitFor("all acked", async () => (await consumerState()).unacked === 0);
    expect(ingest.stats()).toMatchObject({ pending: 0 });
    expect(ingest.stats().lastInsertAt).toBeGreaterThan(0);
  });

  it("returns a result published twice once", async () => {
    const r = result("dup", 1);
    expect(await publish(r)).toBe(false);
    // Same message id: JetStream drops it within the duplicate window.
    expect(await publish(r)).toBe(true);
    // Same result id under another message id (outbox replay after the window): stored twice, returned once.
    await publish(r, `${r.id}-replayed`);
    await publish(result("dup", 2));
    await waitFor(
      "both deliveries inserted",
      async () => Number((await ch.query("SELECT count() FROM pm_ingest.results WHERE check_id = 'dup'")).trim()) === 3,
    );
    expect((await query("dup")).map((x) => x.id)).toEqual(["dup-2", "dup-1"]);
  });

  it("terminates malformed messages, counts them and keeps ingesting what follows", async () => {
    const before = ingest.stats().malformed;
    await publishRaw(new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x01]));
    await publishRaw(new TextEncoder().encode('{"id":"json is not protobuf"}'));
    await publish(result("bad", 1, { id: "" }), "empty-id");
    await publish(result("bad", 2, { state: ProbeState.UNSPECIFIED }));
    await publish(result("bad", 3, { durationMs: Number.NaN }));
    for (let i = 10; i < 15; i++) await publish(result("bad", i));
    const rows = await waitForRows("bad", 5);
    expect(rows.map((r) => r.id).sort()).toEqual(["bad-10", "bad-11", "bad-12", "bad-13", "bad-14"]);
    await waitFor("malformed counted", () => ingest.stats().malformed - before === 5);
    // Terminated, not left pending: nothing blocks the consumer.
    await waitFor("consumer drained", async () => {
      const s = await consumerState();
      return s.unacked === 0 && s.undelivered === 0;
    });
  });

  it("terminates and counts a result the store refuses, and stores the rest of its batch in order", async () => {
    spoiled.add("mixed-7");
    spoiled.add("mixed-30");
    // Published together: they share batches with the refused ones.
    await Promise.all(Array.from({ length: 40 }, (_, i) => publish(result("mixed", i))));
    const rows = await waitForRows("mixed", 38);
    const kept = Array.from({ length: 40 }, (_, i) => `mixed-${i}`).filter(
      (id) => id !== "mixed-7" && id !== "mixed-30",
    );
    expect(rows.map((r) => r.id).sort()).toEqual(kept.sort());
    await waitFor("refusals counted", () => ingest.stats().rejected === 2);
    // Terminated, not left pending: the stream is not blocked behind them.
    await waitFor("consumer drained", async () => {
      const s = await consumerState();
      return s.unacked === 0 && s.undelivered === 0;
    });
    // The consensus engine (onStored) gets every stored row once, each batch in publish order.
    const seen = stored.flat().filter((r) => r.checkId === "mixed");
    expect(seen).toHaveLength(38);
    for (const batch of stored) {
      const seqs = batch.filter((r) => r.checkId === "mixed").map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    expect(await query("mixed")).toHaveLength(38);
  });

  it("keeps results for redelivery when the store refuses every row of a batch, and stores them once it takes them", async () => {
    const rejectedBefore = ingest.stats().rejected;
    const failuresBefore = ingest.stats().insertFailures;
    for (let i = 0; i < 3; i++) spoiled.add(`table-${i}`);
    await Promise.all(Array.from({ length: 3 }, (_, i) => publish(result("table", i))));
    await waitFor("inserts failing", () => ingest.stats().insertFailures >= failuresBefore + 2, 20_000);
    // No row of the batch was taken, which looks like a table out of step rather than bad data:
    // nothing is thrown away, the results stay owed by the stream.
    expect(ingest.stats().rejected).toBe(rejectedBefore);
    const during = await consumerState();
    expect(during.unacked + during.undelivered).toBe(3);
    expect(await query("table")).toHaveLength(0);
    // The store takes them again (the table is fixed): they arrive, nothing lost.
    spoiled.clear();
    expect(await waitForRows("table", 3)).toHaveLength(3);
    await waitFor("consumer drained", async () => {
      const s = await consumerState();
      return s.unacked === 0 && s.undelivered === 0;
    });
    expect(ingest.stats().rejected).toBe(rejectedBefore);
  });

  it("holds messages unacked while ClickHouse is down and stores all of them after it restarts", async () => {
    const failuresBefore = ingest.stats().insertFailures;
    await ch.stop();
    const results = Array.from({ length: 300 }, (_, i) => result("outage", i));
    await Promise.all(results.map((r) => publish(r)));
    await waitFor("insert failures", () => ingest.stats().insertFailures > failuresBefore, 20_000);
    // Nothing acked: every message is still owed to us by the stream.
    const during = await consumerState();
    expect(during.unacked + during.undelivered).toBe(300);
    // The server hands us at most maxAckPending (4 x batchSize) at a time: memory stays bounded.
    expect(during.unacked).toBeLessThanOrEqual(200);
    expect(ingest.stats().pending).toBeLessThanOrEqual(200);
    await new Promise((r) => setTimeout(r, 1_500));
    await ch.restart();
    const rows = await waitForRows("outage", 300, 30_000);
    expect(new Set(rows.map((r) => r.id)).size).toBe(300);
    await waitFor("all acked after recovery", async () => {
      const s = await consumerState();
      return s.unacked === 0 && s.undelivered === 0;
    });
    expect(ingest.stats().pending).toBe(0);
  });

  it("resumes from the durable consumer after the ingest stops and starts again", async () => {
    await ingest.stop();
    for (let i = 0; i < 30; i++) await publish(result("resume", i));
    // Stored in the stream, waiting for the durable consumer; nothing inserted meanwhile.
    expect((await consumerState()).undelivered).toBe(30);
    expect(await query("resume")).toEqual([]);
    ingest = newIngest();
    await ingest.start();
    const rows = await waitForRows("resume", 30);
    expect(rows).toHaveLength(30);
    // Rows become visible in ClickHouse a moment before the insert call returns and the batch is acked.
    await waitFor("stats count the resumed rows", () => ingest.stats().inserted === 30);
    expect(ingest.stats()).toMatchObject({ inserted: 30, malformed: 0, pending: 0 });
  });

  it("shares the durable between two replicas and stores every result exactly once", async () => {
    const second = newIngest();
    await second.start();
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => publish(result("replicas", i))));
      const rows = await waitForRows("replicas", 200);
      expect(rows).toHaveLength(200);
      await waitFor("both drained", async () => (await consumerState()).unacked === 0);
      expect(Number((await ch.query("SELECT count() FROM pm_ingest.results WHERE check_id = 'replicas'")).trim())).toBe(
        200,
      );
      expect(ingest.stats().inserted - 30 + second.stats().inserted).toBe(200);
    } finally {
      await second.stop();
    }
  });

  it("keeps ingesting after nats-server restarts", async () => {
    await publish(result("natsrestart", 0));
    await waitForRows("natsrestart", 1);
    await nats.restart();
    await waitFor(
      "client reconnected",
      async () => {
        try {
          await nc.flush();
          await jsm.getAccountInfo();
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      250,
    );
    for (let i = 1; i < 10; i++) await publish(result("natsrestart", i));
    expect(await waitForRows("natsrestart", 10, 30_000)).toHaveLength(10);
  });
});
