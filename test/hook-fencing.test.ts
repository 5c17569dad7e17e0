// Partition leases at the edges, on a real nats-server: a hook event decided under a stale lease is
// never delivered (recorded `fenced`), and a check's status is answered by its partition's owner from
// any replica (503 when nobody owns it).
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  createApi,
  createHooks,
  createHooksApi,
  createMemoryAgentDirectory,
  createMemoryApiTokens,
  createMemoryEnrollments,
  createMemoryRegistry,
  createSecretBox,
  DELIVERIES_CONSUMER,
  DELIVERIES_STREAM,
  DELIVERIES_SUBJECT_PREFIX,
  forwardedStatus,
  localOrForwarded,
  parseKeyRing,
  requireHooksToken,
  serveStatus,
  UnavailableError,
  validateHook,
  type CheckPolicy,
  type CheckStatus,
  type FenceJudge,
  type Hooks,
  type HooksOptions,
} from "@probemesh/control-plane";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNats, startSecureNats, type NatsServer } from "./harness/nats.js";
import { SECRET_KEY } from "./harness/mesh.js";
import { startProcess, waitFor } from "./harness/process.js";
import { memoryLogger, outageEvent, startReceiver, type Receiver } from "./hooks/receiver.js";

const FAST: HooksOptions = {
  backoff: { initialMs: 200, maxMs: 1000 },
  ackWaitMs: 2000,
  heartbeatMs: 500,
  fetchExpiresMs: 1000,
};

let nats: NatsServer;
const conns: NatsConnection[] = [];
const started: Hooks[] = [];
const receivers: Receiver[] = [];
const logs = memoryLogger();

/** A connection to `server` (the file's nats-server by default), closed after each case. */
async function conn(server: NatsServer = nats): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  conns.push(nc);
  return nc;
}

async function hooksOn(nc: NatsConnection, extra: { fence?: FenceJudge; options?: HooksOptions } = {}) {
  const hooks = createHooks({
    nc,
    log: logs.log,
    secrets: createSecretBox(parseKeyRing(SECRET_KEY).ring),
    ...(extra.fence ? { fence: extra.fence } : {}),
    options: extra.options ?? FAST,
  });
  started.push(hooks);
  return hooks;
}

beforeAll(async () => {
  nats = await startNats();
});
afterEach(async () => {
  for (const h of started.splice(0)) await h.stop().catch(() => undefined);
  for (const nc of conns.splice(0)) if (!nc.isClosed()) await nc.close();
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(async () => {
  await nats?.dispose();
});

/** PartitionLeases as a test sets them: which partitions this replica holds, changed by hand. */
function testLeases(owned: Record<number, number>) {
  const held = new Map(Object.entries(owned).map(([p, e]) => [Number(p), e]));
  const acquired = new Set<(l: { partition: number; epoch: number }) => void | Promise<void>>();
  const lost = new Set<(l: { partition: number; epoch: number }, r: "taken") => void>();
  let valid = true;
  return {
    leases: {
      replicaId: "test",
      partitions: 16,
      start: async () => {},
      stop: async () => {},
      owned: () => [...held].map(([partition, epoch]) => ({ partition, epoch })),
      holds: (p: number, e?: number) => valid && held.has(p) && (e === undefined || held.get(p) === e),
      view: () => undefined,
      fence: () => "current" as const,
      onAcquired: (cb: (l: { partition: number; epoch: number }) => void | Promise<void>) => (
        acquired.add(cb),
        () => void acquired.delete(cb)
      ),
      onLost: (cb: (l: { partition: number; epoch: number }, r: "taken") => void) => (
        lost.add(cb),
        () => void lost.delete(cb)
      ),
    },
    lose(partition: number) {
      const epoch = held.get(partition);
      held.delete(partition);
      if (epoch !== undefined) for (const cb of lost) cb({ partition, epoch }, "taken");
    },
    /** The lease ran out on the local clock; onLost has not fired yet. */
    expire: () => void (valid = false),
  };
}

describe("fenced hook deliveries", () => {
  it("an event published under a stale lease is never delivered and shows as fenced; current and unfenced ones are delivered", async () => {
    const rcv = await startReceiver();
    receivers.push(rcv);
    // The judge stands for leases.fence: partition 3 was taken over at epoch 10 at `since` (server time).
    const takeover: { at?: { partition: number; epoch: number; since: number } } = {};
    const asked: [number, number, number][] = [];
    const fence: FenceJudge = (partition, epoch, publishedAt) => {
      asked.push([partition, epoch, publishedAt]);
      const t = takeover.at;
      return t && partition === t.partition && epoch < t.epoch && publishedAt >= t.since ? "stale" : "current";
    };
    // The old owner publishes; another replica runs the deliveries.
    const oldOwner = await hooksOn(await conn(), { options: { ...FAST, deliver: false } });
    const worker = await hooksOn(await conn(), { fence });
    const { hook } = validateHook({ id: "fenced", type: "webhook", url: rcv.url, checks: ["web"] }, { mode: "create" });
    await oldOwner.registry.create(hook);

    const t0 = Date.now();
    const before = outageEvent("outage.opened", { outageId: "o-before" });
    await oldOwner.publish(before, { fence: { partition: 3, epoch: 9 } });
    // JetStream stamped `before` when it stored it, before its ack came back (one host, one clock).
    await new Promise((r) => setTimeout(r, 20));
    takeover.at = { partition: 3, epoch: 10, since: Date.now() };
    await new Promise((r) => setTimeout(r, 20));
    const stale = outageEvent("outage.resolved", { outageId: "o-before" });
    expect(await oldOwner.publish(stale, { fence: { partition: 3, epoch: 9 } })).toMatchObject({
      enqueued: ["fenced"],
    });
    const current = outageEvent("outage.opened", { outageId: "o-current" });
    await oldOwner.publish(current, { fence: { partition: 3, epoch: 10 } });
    const unfenced = outageEvent("outage.opened", { outageId: "o-unfenced" });
    await oldOwner.publish(unfenced);
    const t1 = Date.now();

    await worker.start();
    const records = await waitFor("four delivery records", async () => {
      const l = await worker.deliveries.list("fenced");
      return l.length >= 4 ? l : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const delivered = rcv.received.map((r) => String(r.headers["webhook-id"])).sort();
    expect(delivered).toEqual([`${before.id}:fenced`, `${current.id}:fenced`, `${unfenced.id}:fenced`].sort());
    expect(records.find((r) => r.eventId === stale.id)).toMatchObject({
      outcome: "fenced",
      fence: { partition: 3, epoch: 9 },
      attempt: 1,
      deliveryId: `${stale.id}:fenced`,
    });
    expect(records.find((r) => r.eventId === before.id)).toMatchObject({
      outcome: "delivered",
      fence: { partition: 3, epoch: 9 },
    });
    expect(records.find((r) => r.eventId === current.id)).toMatchObject({ outcome: "delivered" });
    expect(records.find((r) => r.eventId === unfenced.id)?.fence).toBeUndefined();
    expect(worker.stats).toMatchObject({ fenced: 1, delivered: 3 });
    // The judge saw JetStream's timestamps of the enqueues (the unfenced event is not judged).
    expect(asked).toHaveLength(3);
    for (const [, , publishedAt] of asked) {
      expect(publishedAt).toBeGreaterThanOrEqual(t0 - 1000);
      expect(publishedAt).toBeLessThanOrEqual(t1 + 1000);
    }
    expect(logs.text()).toContain("delivery fenced: stale partition lease");

    // The deliveries API shows the refusal.
    const api = createHooksApi({ hooks: worker, log: logs.log, auth: requireHooksToken("hooks-token") });
    const res = await api.request("/fenced/deliveries", { headers: { authorization: "Bearer hooks-token" } });
    expect(res.status).toBe(200);
    const shown = (await res.json()) as { eventId: string; outcome: string; fence?: unknown }[];
    expect(shown.find((r) => r.eventId === stale.id)).toMatchObject({
      outcome: "fenced",
      fence: { partition: 3, epoch: 9 },
    });
  });

  it("a stale copy enqueued before the new owner's never swallows it, and a copy of a delivery already made is not made again", async () => {
    const rcv = await startReceiver();
    receivers.push(rcv);
    const takeover: { at?: { partition: number; epoch: number; since: number } } = {};
    const fence: FenceJudge = (partition, epoch, publishedAt) => {
      const t = takeover.at;
      return t && partition === t.partition && epoch < t.epoch && publishedAt >= t.since ? "stale" : "current";
    };
    const oldOwner = await hooksOn(await conn(), { options: { ...FAST, deliver: false } });
    const newOwner = await hooksOn(await conn(), { options: { ...FAST, deliver: false } });
    const worker = await hooksOn(await conn(), { fence });
    const { hook } = validateHook({ id: "race", type: "webhook", url: rcv.url, checks: ["web"] }, { mode: "create" });
    await oldOwner.registry.create(hook);

    // Delivered under epoch 4 before any takeover.
    const open = outageEvent("outage.opened", { outageId: "o-open" });
    await oldOwner.publish(open, { fence: { partition: 5, epoch: 4 } });
    await new Promise((r) => setTimeout(r, 20));
    takeover.at = { partition: 5, epoch: 5, since: Date.now() };
    await new Promise((r) => setTimeout(r, 20));
    // The old owner, frozen before its enqueue, wakes after the takeover: its copy lands first...
    const resolved = outageEvent("outage.resolved", { outageId: "o-open" });
    await oldOwner.publish(resolved, { fence: { partition: 5, epoch: 4 } });
    // ...then the new owner decides the same transition (same id), and re-announces the open incident it adopted.
    // (Enqueued once its copy of the hooks has the hook; a second try is JetStream's duplicate.)
    await waitFor("the new owner's copy enqueued", async () => {
      const r = await newOwner.publish(resolved, { fence: { partition: 5, epoch: 5 } });
      return r.enqueued.length + r.duplicates.length > 0;
    });
    await newOwner.publish(open, { fence: { partition: 5, epoch: 5 } });

    await worker.start();
    const records = await waitFor("four delivery records", async () => {
      const l = await worker.deliveries.list("race");
      return l.length >= 4 ? l : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    // Each event reached the receiver exactly once.
    expect(rcv.received.map((r) => String(r.headers["webhook-id"])).sort()).toEqual(
      [`${open.id}:race`, `${resolved.id}:race`].sort(),
    );
    const of = (id: string) => records.filter((r) => r.eventId === id).map((r) => `${r.outcome} ${r.fence?.epoch}`);
    // The stale copy is fenced; the new owner's, which it used to swallow, is delivered.
    expect(of(resolved.id).sort()).toEqual(["delivered 5", "fenced 4"]);
    // One copy of the re-announced opening is attempted (whichever the worker claimed first), the other is a duplicate.
    expect(
      of(open.id)
        .map((o) => o.split(" ")[0])
        .sort(),
    ).toEqual(["delivered", "duplicate"]);
  });

  it("a replica frozen (SIGSTOP) while holding a delivery does not make it again on waking: another replica made it", async () => {
    const rcv = await startReceiver();
    receivers.push(rcv);
    // A long pull, so that the frozen worker's pull request is still open at the server when the delivery comes.
    const options: HooksOptions = { ...FAST, fetchExpiresMs: 30_000 };
    // A server of its own: the queue's consumer figures below must count this case's delivery only.
    const own = await startNats();
    const child = startProcess(
      "hook-worker",
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "fixtures", "hook-worker.ts")],
      {
        cwd: join(import.meta.dirname, ".."),
        env: { ...process.env, NATS_URL: own.url, SECRET_KEY, HOOKS_OPTIONS: JSON.stringify(options) },
      },
    );
    const pid = child.child.pid!;
    let stopped = false;
    try {
      const publisher = await hooksOn(await conn(own), { options: { ...options, deliver: false } });
      const { hook } = validateHook({ id: "frozen", type: "webhook", url: rcv.url }, { mode: "create" });
      await publisher.registry.create(hook);
      const jsm = await jetstreamManager(await conn(own));
      const consumer = () => jsm.consumers.info(DELIVERIES_STREAM, DELIVERIES_CONSUMER);
      await waitFor(
        "the worker's pull request open at the server",
        async () => {
          if (child.exited()) throw new Error(`hook worker exited:\n${child.output()}`);
          return /^started$/m.test(child.output()) && (await consumer()).num_waiting > 0;
        },
        30_000,
      );
      process.kill(pid, "SIGSTOP");
      stopped = true;
      const resolved = outageEvent("outage.resolved", { outageId: "o-frozen" });
      await publisher.publish(resolved);
      // JetStream hands it to the frozen worker's open pull: it sits unread in that process's socket.
      await waitFor("the delivery handed to the frozen worker", async () => {
        const c = await consumer();
        return c.num_ack_pending === 1 && c.num_pending === 0;
      });
      expect(rcv.received).toEqual([]);
      // Past its ack wait, another replica pulls the redelivery and makes the delivery.
      await new Promise((r) => setTimeout(r, options.ackWaitMs! + 500));
      const other = await hooksOn(await conn(own), { options });
      await other.start();
      await waitFor("the other replica delivered it", () => rcv.received.length >= 1, 15_000);
      // The frozen worker wakes up with the first copy in its socket.
      process.kill(pid, "SIGCONT");
      stopped = false;
      await waitFor("the woken worker noticed", () => child.output().includes("stood still"), 10_000).catch(
        (err: unknown) => {
          throw new Error(`${String(err)} (${rcv.received.length} received)\n${child.output()}`);
        },
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(rcv.received.map((r) => String(r.headers["webhook-id"]))).toEqual([`${resolved.id}:frozen`]);
      expect(other.stats.delivered).toBe(1);
      expect(child.output()).toContain('"attempt":1');
    } finally {
      if (stopped) process.kill(pid, "SIGCONT");
      await child.kill();
      for (const h of started.splice(0)) await h.stop().catch(() => undefined);
      for (const nc of conns.splice(0)) if (!nc.isClosed()) await nc.close();
      await own.dispose();
    }
  });

  it("a malformed Probemesh-Fence header is dead-lettered, never delivered", async () => {
    const rcv = await startReceiver();
    receivers.push(rcv);
    const nc = await conn();
    const worker = await hooksOn(nc, { fence: () => "current" });
    const { hook } = validateHook({ id: "badfence", type: "webhook", url: rcv.url }, { mode: "create" });
    await worker.registry.create(hook);
    await worker.start();
    const ev = outageEvent("outage.opened", { outageId: "o-badfence" });
    const h = headers();
    h.set("Probemesh-Fence", "3:not-an-epoch");
    await jetstream(nc).publish(
      `${DELIVERIES_SUBJECT_PREFIX}.badfence`,
      JSON.stringify({ hookId: "badfence", event: ev, enqueuedAt: Date.now() }),
      { msgID: `${ev.id}:badfence`, headers: h },
    );
    await waitFor("dead letter", () => worker.stats.deadLettered === 1, 10_000);
    expect(worker.stats.malformed).toBe(1);
    const jsm = await jetstreamManager(nc);
    const letter = await jsm.streams.getMessage("PROBEMESH_HOOK_DEAD_LETTERS", {
      last_by_subj: "probemesh.hooks.dead.malformed",
    });
    expect(letter?.json<{ detail: string }>().detail).toContain("Probemesh-Fence");
    await new Promise((r) => setTimeout(r, 500));
    expect(rcv.received).toEqual([]);
  });
});

const WEB: CheckStatus = {
  checkId: "web",
  state: "down",
  reason: "",
  since: 1_795_725_665_412,
  regions: {
    "eu-west": {
      state: "down",
      since: 1_795_725_660_000,
      lastResultAt: 1_795_725_665_000,
      impaired: false,
      impairedReason: "",
      lastReason: "connect",
      error: "",
      agents: [
        { agentId: "a1", state: "down", fresh: true, impaired: false, lastResultAt: 1_795_725_665_000 },
        { agentId: "a2", state: "error", fresh: false, impaired: true, lastResultAt: 0, error: "internal: boom" },
      ],
    },
  },
  outage: {
    id: "outage:web:7c9e6679:1795725660000",
    checkId: "web",
    checkUid: "7c9e6679-0000",
    kind: "outage",
    state: "open",
    startedAt: 1_795_725_660_000,
    confirmedAt: 1_795_725_665_412,
    resolvedAt: null,
    regions: ["eu-west"],
    reason: "connect",
  },
};

describe("status forwarding between replicas", () => {
  // web is in partition 3 (owned by the owner), api in partition 5 (owned by nobody).
  const partitionOf = (id: string) => ({ web: 3, api: 5 })[id];

  it("the owner of the check's partition answers; 503 when nobody owns it or the owner stops answering", async () => {
    const owner = testLeases({ 3: 7 });
    const ownerNc = await conn();
    const server = serveStatus({
      nc: ownerNc,
      leases: owner.leases,
      status: (id) => (id === "web" ? WEB : undefined),
      log: logs.log,
    });
    await ownerNc.flush(); // its subscription has reached the server
    const status = forwardedStatus({ nc: await conn(), partitionOf, timeoutMs: 500 });

    // Through JSON and back: numbers, nulls and optional fields as the owner has them.
    expect(await status("web")).toEqual(WEB);
    expect(server.stats.answered).toBe(1);
    // Nobody listens on partition 5: NATS says so at once.
    await expect(status("api")).rejects.toThrow(UnavailableError);
    await expect(status("api")).rejects.toThrow(/no control-plane replica owns partition 5/);

    // The owner's lease ran out: it stays silent, and the caller gives up after its timeout.
    owner.expire();
    await expect(status("web")).rejects.toThrow(/owner of partition 3 did not answer within 500 ms/);
    // Lost: it no longer listens at all.
    owner.lose(3);
    expect(server.serving()).toEqual([]);
    await ownerNc.flush(); // the unsubscription has reached the server
    await expect(status("web")).rejects.toThrow(/no control-plane replica owns partition 3/);
    server.stop();
  });

  it("GET /v1/checks/:id/status on a replica that does not own the check: forwarded, 503 when nobody owns it", async () => {
    const owner = testLeases({ 3: 7 });
    const ownerNc = await conn();
    serveStatus({ nc: ownerNc, leases: owner.leases, status: () => WEB, log: logs.log });
    await ownerNc.flush(); // its subscription has reached the server
    const mine = testLeases({ 0: 1 });
    const status = localOrForwarded({
      leases: mine.leases,
      partitionOf,
      local: () => undefined,
      forwarded: forwardedStatus({ nc: await conn(), partitionOf }),
    });
    const policy = (checkId: string): CheckPolicy => ({
      checkId,
      checkUid: `${checkId}-uid`,
      intervalMs: 10_000,
      timeoutMs: 2_000,
      regions: ["eu-west"],
      failureThreshold: 2,
      recoveryThreshold: 2,
      quorum: "majority",
      dependsOn: [],
      canary: false,
      sinceVersion: 0,
      notBefore: 0,
    });
    const log = logs.log;
    const app = createApi({
      config: { apiToken: "fencing-test-token" },
      enrollments: createMemoryEnrollments(),
      apiTokens: createMemoryApiTokens(),
      registry: createMemoryRegistry({ log }),
      store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
      agents: createMemoryAgentDirectory(),
      ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
      log,
      consensus: {
        status,
        outageStore: {
          listOutages: async () => [],
          resultCounts: async () => [],
          loadObservations: async () => ({ observations: [], truncated: false }),
          observedBuckets: async () => new Map(),
        },
        lookupCheck: async (id) => (partitionOf(id) !== undefined ? policy(id) : undefined),
      },
    });
    const auth = { authorization: "Bearer fencing-test-token" };
    const res = await app.request("/v1/checks/web/status", { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      checkId: "web",
      state: "down",
      since: WEB.since,
      regions: { "eu-west": { state: "down", reason: "connect" } },
      outage: { id: WEB.outage?.id, state: "open", resolvedAt: null },
    });
    const none = await app.request("/v1/checks/api/status", { headers: auth });
    expect(none.status).toBe(503);
    expect(await none.json()).toMatchObject({
      error: { code: "unavailable", message: expect.stringContaining("no control-plane replica owns partition 5") },
    });
    expect((await app.request("/v1/checks/nope/status", { headers: auth })).status).toBe(404);
  });

  it("works with the control plane's NATS user written by init (operator mode, TLS)", async () => {
    const secure = await startSecureNats();
    try {
      const a = await secure.connect();
      const b = await secure.connect();
      conns.push(a, b);
      const owner = testLeases({ 3: 1 });
      serveStatus({ nc: a, leases: owner.leases, status: () => WEB, log: logs.log });
      // The owner's subscription must have reached the server before the other replica asks.
      await a.flush();
      expect(await forwardedStatus({ nc: b, partitionOf })("web")).toEqual(WEB);
    } finally {
      for (const nc of conns.splice(0)) if (!nc.isClosed()) await nc.close();
      await secure.dispose();
    }
  });
});
