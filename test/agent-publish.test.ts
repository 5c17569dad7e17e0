// The agent's publisher against a real nats-server: results land in JetStream in order with the
// result id as message id; an outage or a missing stream sends them to the disk outbox, replayed
// in order once NATS is back.
import { fromBinary } from "@bufbuild/protobuf";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { partitionOf, ProbeResultSchema, RESULTS_STREAM, RESULTS_SUBJECT_ALL, resultSubject } from "@probemesh/proto";
import {
  createAssignmentCache,
  createLogger,
  createNatsSink,
  createResultPublisher,
  type NatsSink,
  openOutbox,
  type ResultPublisher,
} from "@probemesh/agent";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNats, type NatsServer } from "./harness/nats.js";
import { checkFixture, probeResultFixture } from "@probemesh/proto/testing";
import { startAgent, UNENROLLED_AGENT_TOKEN } from "./harness/mesh.js";
import { waitFor } from "./harness/process.js";

const log = createLogger({ level: "silent" });
const subject = resultSubject("eu-west", "agent-7");

describe("agent publisher on a real nats-server", () => {
  let nats: NatsServer;
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats.dispose();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const adminConnect = async () => {
    admin = await connect({ servers: nats.url });
    jsm = await jetstreamManager(admin);
    cleanups.push(() => admin.close());
  };
  const createStream = () =>
    jsm.streams.add({ name: RESULTS_STREAM, subjects: [RESULTS_SUBJECT_ALL], duplicate_window: 120_000_000_000 });
  const deleteStream = () => jsm.streams.delete(RESULTS_STREAM).catch(() => false);

  function startPublisher(): { pub: ResultPublisher; sink: NatsSink; dir: string } {
    const dir = mkdtempSync(join(tmpdir(), "agent-publish-"));
    const sink = createNatsSink({
      servers: [nats.url],
      name: "agent-7",
      log,
      reconnectWaitMs: 200,
      pingIntervalMs: 1000,
    });
    const outbox = openOutbox({ dir: join(dir, "outbox"), maxBytes: 4 * 1024 * 1024, log });
    const pub = createResultPublisher({ sink, outbox, subject, log, retry: { initialMs: 50, maxMs: 500 } });
    sink.start();
    cleanups.push(async () => {
      await pub.close({ flushMs: 100 });
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { pub, sink, dir };
  }

  const result = (seq: number) =>
    probeResultFixture({
      id: `res-${seq}-${Math.random().toString(36).slice(2)}`,
      agentId: "agent-7",
      region: "eu-west",
      seq: BigInt(seq),
    });

  async function storedSeqs(): Promise<{ seqs: number[]; ids: string[]; subjects: string[] }> {
    const info = await jsm.streams.info(RESULTS_STREAM);
    const seqs: number[] = [];
    const ids: string[] = [];
    const subjects: string[] = [];
    for (let s = info.state.first_seq; s <= info.state.last_seq && info.state.messages > 0; s++) {
      const m = await jsm.streams.getMessage(RESULTS_STREAM, { seq: s });
      if (!m) continue;
      const r = fromBinary(ProbeResultSchema, m.data);
      seqs.push(Number(r.seq));
      expect(m.header?.get("Nats-Msg-Id")).toBe(r.id);
      ids.push(r.id);
      subjects.push(m.subject);
    }
    return { seqs, ids, subjects };
  }
  const count = async () => (await jsm.streams.info(RESULTS_STREAM)).state.messages;
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

  it("publishes each result to JetStream with its id as message id, on the agent's subject, in order", async () => {
    await adminConnect();
    await deleteStream();
    await createStream();
    const { pub, sink } = startPublisher();
    await waitFor("sink up", () => sink.isUp(), 10_000);
    for (let i = 1; i <= 50; i++) pub.publish(result(i));
    await waitFor("50 stored", async () => (await count()) === 50, 10_000);
    const stored = await storedSeqs();
    expect(stored.seqs).toEqual(range(1, 51));
    expect(new Set(stored.subjects)).toEqual(new Set([subject]));
    // Server-side dedupe: the same result published again is not stored twice.
    const again = probeResultFixture({ id: stored.ids[0]!, seq: 999n });
    pub.publish(again);
    await waitFor("published", () => pub.stats().published === 51, 10_000);
    expect(await count()).toBe(50);
  });

  it("survives a NATS outage: results wait in the outbox and arrive in order afterwards", async () => {
    await adminConnect();
    await deleteStream();
    await createStream();
    await admin.close();
    const { pub, sink } = startPublisher();
    await waitFor("sink up", () => sink.isUp(), 10_000);
    for (let i = 1; i <= 10; i++) pub.publish(result(i));
    await waitFor("10 sent", () => pub.stats().published === 10, 10_000);

    await nats.stop();
    await waitFor("sink down", () => !sink.isUp(), 10_000);
    for (let i = 11; i <= 60; i++) pub.publish(result(i));
    await waitFor("outboxed", () => pub.stats().outbox.depth === 50, 10_000);

    await nats.restart();
    for (let i = 61; i <= 80; i++) {
      pub.publish(result(i));
      await new Promise((r) => setTimeout(r, 20));
    }
    await adminConnect();
    await waitFor("80 stored", async () => (await count()) === 80, 30_000, 200);
    expect((await storedSeqs()).seqs).toEqual(range(1, 81));
    expect(pub.stats().outbox.depth).toBe(0);
  });

  it("keeps results in the outbox while the stream does not exist yet, then replays them", async () => {
    await adminConnect();
    await deleteStream();
    const { pub, sink } = startPublisher();
    await waitFor("sink up", () => sink.isUp(), 10_000);
    for (let i = 1; i <= 20; i++) pub.publish(result(i));
    await waitFor("outboxed", () => pub.stats().outbox.depth === 20, 20_000);
    await createStream();
    for (let i = 21; i <= 25; i++) pub.publish(result(i));
    await waitFor("25 stored", async () => (await count()) === 25, 20_000, 200);
    expect((await storedSeqs()).seqs).toEqual(range(1, 26));
  });

  it("replays an outbox left by a previous process before anything new", async () => {
    await adminConnect();
    await deleteStream();
    await createStream();
    // Previous process: NATS unreachable (wrong port), results go to the outbox, then it "crashes".
    const dir = mkdtempSync(join(tmpdir(), "agent-publish-crash-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const deadSink = createNatsSink({ servers: ["nats://127.0.0.1:1"], name: "agent-7", log });
    const first = createResultPublisher({
      sink: deadSink,
      outbox: openOutbox({ dir, maxBytes: 1024 * 1024, log }),
      subject,
      log,
    });
    for (let i = 1; i <= 30; i++) first.publish(result(i));
    await waitFor("outboxed", () => first.stats().outbox.depth === 30, 10_000);
    // No close(): the next process opens the same outbox.
    const sink = createNatsSink({ servers: [nats.url], name: "agent-7", log });
    const second = createResultPublisher({
      sink,
      outbox: openOutbox({ dir, maxBytes: 1024 * 1024, log }),
      subject,
      log,
    });
    sink.start();
    cleanups.push(async () => {
      await second.close();
      await sink.close();
    });
    for (let i = 31; i <= 40; i++) second.publish(result(i));
    await waitFor("40 stored", async () => (await count()) === 40, 20_000, 200);
    expect((await storedSeqs()).seqs).toEqual(range(1, 41));
  });

  it("the bin probes from its cache (partition count included), loses nothing across a NATS outage, and keeps seq growing across a crash", async () => {
    await adminConnect();
    await deleteStream();
    await createStream();
    const target: Server = createServer((sock) => sock.end());
    const port = await new Promise<number>((resolve) =>
      target.listen(0, "127.0.0.1", () => resolve((target.address() as { port: number }).port)),
    );
    cleanups.push(() => new Promise<void>((r) => target.close(() => r())));
    // A previous run left its assignments; the control plane is unreachable for this whole test.
    const stateDir = mkdtempSync(join(tmpdir(), "agent-bin-"));
    cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));
    const uid = "5e0b7c3a-2d4f-4a1b-8c6e-9f0a1b2c3d4e";
    createAssignmentCache({ dir: stateDir, log }).save({
      version: 1n,
      partitions: 16,
      checks: [
        checkFixture("tcp1", { type: "tcp", intervalMs: 100, timeoutMs: 90, uid, tcp: { host: "127.0.0.1", port } }),
      ],
    });
    // Every result, direct or replayed from the outbox, goes to the check's partition of the cached count.
    const partitioned = resultSubject("eu-west", "bin-1", partitionOf(uid, 16));
    const launch = () =>
      startAgent({
        id: "bin-1",
        region: "eu-west",
        token: UNENROLLED_AGENT_TOKEN,
        grpcAddr: "127.0.0.1:1",
        natsUrl: nats.url,
        env: { PROBEMESH_STATE_DIR: stateDir },
      });
    const seqs = async () => (await storedSeqs()).seqs;

    let agent = launch();
    cleanups.push(() => agent.stop());
    await waitFor("results from the cached check", async () => (await count()) >= 10, 30_000, 100).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${agent.proc.output()}`);
      },
    );

    // NATS goes away for a while: results pile up in the outbox and all arrive afterwards.
    await nats.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await nats.restart();
    await adminConnect();
    const before = await count();
    await waitFor("results after the outage", async () => (await count()) >= before + 20, 30_000, 200);
    const afterOutage = await seqs();
    // One process lifetime: every seq from 1 on, in order, none lost during the outage.
    expect(afterOutage).toEqual(range(1, afterOutage.length + 1));
    expect(new Set((await storedSeqs()).subjects)).toEqual(new Set([partitioned]));

    // Crash (SIGKILL) and restart: seq never goes back, whatever was in flight is at most a gap.
    await agent.proc.kill();
    const lastBeforeCrash = Math.max(...(await seqs()));
    agent = launch();
    await waitFor("results after the restart", async () => (await count()) >= afterOutage.length + 10, 30_000, 200);
    const all = await seqs();
    for (let i = 1; i < all.length; i++) expect(all[i]!).toBeGreaterThan(all[i - 1]!);
    expect(all.at(-1)!).toBeGreaterThan(lastBeforeCrash);
    expect(new Set((await storedSeqs()).subjects)).toEqual(new Set([partitioned]));

    // Graceful stop exits 0 and leaves no lock behind.
    await agent.stop();
    expect(agent.proc.child.exitCode).toBe(0);
  });
});
