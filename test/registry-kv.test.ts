// The check registry on a real nats-server. Checks stored before uids existed (uid "") are served
// with a uid, written back once even when replicas load together, the same on every replica and
// after a restart; end to end, such a check's outage is decided (before, its results went to the
// 4-token subject, which no decider reads, so it was stored but never judged). A registry whose
// watcher stopped delivering (its consumer gone, as on a killed cluster node; the client notices only
// after two missed 30 s heartbeats) re-opens it within seconds, though it writes nothing itself.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  CHECKS_BUCKET,
  createKvWatchReopens,
  createRegistry,
  createSecretBox,
  openKvBucket,
  type NatsRegistry,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, waitFor, waitForOutage, type Mesh } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { storeUidlessCheck } from "./harness/uidless-check.js";

const log = pino({ level: "silent" });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function storedUid(nc: NatsConnection, id: string): Promise<{ uid: unknown; revision: number }> {
  const kv = await openKvBucket(nc, CHECKS_BUCKET, { history: 1 });
  const e = await kv.get(id);
  return {
    uid: (e?.json<{ check: { uid?: string } }>().check.uid ?? undefined) as unknown,
    revision: e?.revision ?? 0,
  };
}

describe("registry on a real nats-server: a check stored without a uid", () => {
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const registries: NatsRegistry[] = [];

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    for (const r of registries) await r.stop();
    for (const nc of conns) await nc.close();
    await nats?.dispose();
  });

  const replica = async (bucket = CHECKS_BUCKET, watchReopens = createKvWatchReopens()) => {
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    const r = createRegistry({ nc, log, secrets: createSecretBox(undefined), bucket, watchReopens });
    registries.push(r);
    return r;
  };

  it("is served with one uid by two replicas loading at once, written back once, and the same after a restart", async () => {
    const admin = await connect({ servers: nats.url });
    conns.push(admin);
    const stored = await storeUidlessCheck(admin, "legacy");
    const [a, b] = [await replica(), await replica()];
    await Promise.all([a.start(), b.start()]);

    const uid = (await a.get("legacy"))?.check.uid;
    expect(uid).toMatch(UUID);
    expect((await b.get("legacy"))?.check.uid).toBe(uid);
    expect(b.watch(() => undefined).checks.map((r) => r.check.uid)).toEqual([uid]);
    // One compare-and-set landed; the other replica's was refused and it read the winner's.
    const after = await storedUid(admin, "legacy");
    expect(after).toEqual({ uid, revision: stored + 1 });
    expect(a.stats().uidsWritten + b.stats().uidsWritten).toBe(1);

    // A replica started later (or after a restart) serves the stored uid and writes nothing.
    const c = await replica();
    await c.start();
    expect((await c.get("legacy"))?.check.uid).toBe(uid);
    expect(c.stats().uidsWritten).toBe(0);
    expect(await storedUid(admin, "legacy")).toEqual(after);
  });

  it("re-opens a watcher whose consumer vanished, and serves a change written elsewhere within seconds", async () => {
    const admin = await connect({ servers: nats.url });
    conns.push(admin);
    const bucket = "probemesh_checks_stall";
    const reopens = createKvWatchReopens();
    const r = await replica(bucket, reopens);
    await r.start();
    const before = r.stats();
    // The watcher's ordered consumer disappears without the client being told, as when the NATS node
    // holding it is killed.
    const jsm = await jetstreamManager(admin);
    // The watcher's consumer exists once it is being followed (a loaded CI host once listed none
    // right after start: wait for it rather than read once).
    const consumers = await waitFor(
      "the watcher's consumer",
      async () => {
        const list = await jsm.consumers.list(`KV_${bucket}`).next();
        return list.length === 1 ? list : undefined;
      },
      10_000,
      100,
    );
    await jsm.consumers.delete(`KV_${bucket}`, consumers[0]!.name);
    await storeUidlessCheck(admin, "written-elsewhere", { bucket });
    const seen = waitFor(
      "the change served",
      async () => r.watch(() => undefined).checks.some((c) => c.check.id === "written-elsewhere"),
      20_000,
      100,
    );
    await seen;
    expect(r.stats().watchStalls).toBe(before.watchStalls + 1);
    // What GET /metrics reads for probemesh_kv_watch_reopens_total{bucket, reason}.
    expect(reopens.counts()).toEqual([
      { bucket, reason: "ended", count: 0 },
      { bucket, reason: "stalled", count: 1 },
    ]);
  });
});

describe("end to end: the outage of a check stored without a uid is decided", () => {
  let mesh: Mesh;
  let target: FlipTarget;

  beforeAll(async () => {
    target = await startFlipTarget();
    mesh = await startMesh({
      regions: ["eu-west", "us-east", "ap-south"],
      secure: false,
      beforeReplicas: async ({ nats }) => {
        const nc = await connect({ servers: nats.url });
        try {
          await storeUidlessCheck(nc, "legacy", { url: `http://127.0.0.1:${target.port}/` });
        } finally {
          await nc.close();
        }
      },
    });
  });
  afterAll(async () => {
    await mesh?.dispose();
    target?.close();
  });

  it("goes up, then down with an outage of its uid", async () => {
    const explain = (err: unknown): never => {
      throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
    };
    const status = async () =>
      (await (await mesh.cp.request("/v1/checks/legacy/status")).json()) as {
        state: string;
        outage: { checkUid: string } | null;
      };
    const check = (await (await mesh.cp.request("/v1/checks/legacy")).json()) as { uid: string };
    expect(check.uid).toMatch(UUID);
    await waitFor("legacy up", async () => (await status()).state === "up", 30_000, 250).catch(explain);
    target.healthy = false;
    const down = await waitForOutage<Awaited<ReturnType<typeof status>>>(mesh.cp, "legacy", 20_000).catch(explain);
    expect(down.outage?.checkUid).toBe(check.uid);
  });
});
