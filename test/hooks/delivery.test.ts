// Durable, signed hook deliveries on a real nats-server: retries while the consumer is down, one
// webhook-id per delivery across retries and replicas, crash of a replica mid-delivery, 410, holds.
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createHooks,
  createSecretBox,
  type HookAdapter,
  type Hooks,
  type HooksOptions,
  parseKeyRing,
  validateHook,
  verifyWebhook,
} from "@probemesh/control-plane";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNats, type NatsServer } from "../harness/nats.js";
import { SECRET_KEY } from "../harness/mesh.js";
import { waitFor } from "../harness/process.js";
import { memoryLogger, outageEvent, startReceiver, type Receiver } from "./receiver.js";

const FAST: HooksOptions = {
  backoff: { initialMs: 200, maxMs: 1000 },
  ackWaitMs: 2000,
  heartbeatMs: 500,
  fetchExpiresMs: 1000,
};

let nats: NatsServer;
const open: { nc: NatsConnection; hooks: Hooks }[] = [];
const receivers: Receiver[] = [];
const logs = memoryLogger();

async function replica(options: HooksOptions = FAST): Promise<{ nc: NatsConnection; hooks: Hooks }> {
  const nc = await connect({ servers: nats.url });
  const hooks = createHooks({ nc, log: logs.log, secrets: createSecretBox(parseKeyRing(SECRET_KEY).ring), options });
  const r = { nc, hooks };
  open.push(r);
  return r;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

function ids(r: Receiver): string[] {
  return r.received.map((x) => String(x.headers["webhook-id"]));
}

beforeAll(async () => {
  nats = await startNats();
});
afterEach(async () => {
  // Each test's hooks go away with it, so that later events are not fanned out to them.
  const cleaner = await replica({ ...FAST, deliver: false });
  for (const r of await cleaner.hooks.registry.list()) await cleaner.hooks.registry.delete(r.hook.id);
  for (const { nc, hooks } of open.splice(0)) {
    await hooks.stop().catch(() => undefined);
    if (!nc.isClosed()) await nc.close();
  }
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(async () => {
  await nats?.dispose();
  // Secrets never reach the logs.
  expect(logs.text()).not.toMatch(/whsec_[A-Za-z0-9+/]{8}/);
});

describe("hook deliveries on JetStream", () => {
  it("delivers a signed event once, and a replayed transition is not delivered again", async () => {
    const rcv = await receiver();
    const { hooks } = await replica();
    const { hook, generatedSecret } = validateHook(
      { id: "once", type: "webhook", url: rcv.url, checks: ["web"] },
      { mode: "create" },
    );
    await hooks.registry.create(hook);
    await hooks.start();
    const ev = outageEvent("outage.opened", { outageId: "o-once" });
    expect(await hooks.publish(ev)).toEqual({ eventId: ev.id, enqueued: ["once"], duplicates: [] });
    // Another check's event is not for this hook.
    expect(
      (await hooks.publish(outageEvent("outage.opened", { outageId: "o-other", checkId: "api" }))).enqueued,
    ).toEqual([]);
    await waitFor("delivery", () => rcv.received.length === 1, 10_000);
    const got = rcv.received[0];
    expect(got?.headers["content-type"]).toBe("application/json");
    const body = verifyWebhook<typeof ev>(generatedSecret ?? "", got?.headers ?? {}, got?.body ?? "");
    expect(body).toMatchObject({
      id: ev.id,
      type: "outage.opened",
      data: { checkId: "web", outageId: "o-once", state: "down" },
    });
    expect(got?.headers["webhook-id"]).toBe(`${ev.id}:once`);
    // Replayed by the same or another replica: JetStream drops the duplicate enqueue.
    expect(await hooks.publish(ev)).toEqual({ eventId: ev.id, enqueued: [], duplicates: ["once"] });
    await new Promise((r) => setTimeout(r, 1500));
    expect(rcv.received).toHaveLength(1);
    const log = await waitFor("log", async () => {
      const l = await hooks.deliveries.list("once");
      return l.length === 1 ? l : undefined;
    });
    expect(log[0]).toMatchObject({
      eventId: ev.id,
      outcome: "delivered",
      status: 200,
      attempt: 1,
      deliveryId: `${ev.id}:once`,
    });
    expect(log[0]?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("consumer down for a while: retried with backoff, delivered after it returns with the same webhook-id", async () => {
    const rcv = await receiver();
    const { hooks } = await replica();
    const { hook, generatedSecret } = validateHook({ id: "retry", type: "webhook", url: rcv.url }, { mode: "create" });
    await hooks.registry.create(hook);
    await rcv.down();
    await hooks.start();
    const ev = outageEvent("outage.opened", { outageId: "o-retry" });
    await hooks.publish(ev);
    await waitFor(
      "two failed attempts",
      async () => (await hooks.deliveries.list("retry")).filter((r) => r.outcome === "failed").length >= 2,
      15_000,
    );
    // Then it answers 503 for a while (an HTTP failure, not a network one)...
    rcv.status = 503;
    await rcv.up();
    await waitFor("a 503 attempt", () => rcv.received.length >= 1, 10_000);
    rcv.status = 200;
    await waitFor(
      "delivery",
      () => rcv.received.some((r) => r.headers["webhook-id"] && rcv.received.length >= 2),
      15_000,
    );
    await waitFor(
      "delivered in log",
      async () => (await hooks.deliveries.list("retry")).some((r) => r.outcome === "delivered"),
      10_000,
    );
    expect(new Set(ids(rcv))).toEqual(new Set([`${ev.id}:retry`]));
    for (const r of rcv.received) expect(() => verifyWebhook(generatedSecret ?? "", r.headers, r.body)).not.toThrow();
    const log = await hooks.deliveries.list("retry");
    const failed = log.filter((r) => r.outcome === "failed");
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(failed.some((r) => r.status === 503)).toBe(true);
    expect(failed.some((r) => r.status === undefined && /fetch failed|ECONNREFUSED/.test(r.error ?? ""))).toBe(true);
    expect(log.at(-1)).toMatchObject({ outcome: "delivered", status: 200 });
    // Attempts count up and each failed one says when it is retried.
    expect(log.map((r) => r.attempt)).toEqual([...log.map((r) => r.attempt)].sort((a, b) => a - b));
    for (const f of failed) expect(f.retryAt).toBeGreaterThan(f.at);
    // The log is queryable per hook, newest last, limited.
    const last2 = await hooks.deliveries.list("retry", { limit: 2 });
    expect(last2).toEqual(log.slice(-2));
    expect(hooks.stats.failedAttempts).toBeGreaterThanOrEqual(3);
  });

  it("a replica stopped between enqueue and delivery: another one delivers it exactly once", async () => {
    const rcv = await receiver();
    const a = await replica({ ...FAST, deliver: false });
    const { hook, generatedSecret } = validateHook(
      { id: "handover", type: "webhook", url: rcv.url },
      { mode: "create" },
    );
    await a.hooks.registry.create(hook);
    const ev = outageEvent("outage.opened", { outageId: "o-handover" });
    await a.hooks.publish(ev);
    // The publishing replica dies before delivering anything.
    await a.nc.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(rcv.received).toHaveLength(0);
    const b = await replica();
    await b.hooks.start();
    await waitFor("delivery by the other replica", () => rcv.received.length === 1, 10_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(ids(rcv)).toEqual([`${ev.id}:handover`]);
    expect(() =>
      verifyWebhook(generatedSecret ?? "", rcv.received[0]?.headers ?? {}, rcv.received[0]?.body ?? ""),
    ).not.toThrow();
  });

  it("a replica killed mid-attempt: the delivery is redone by another replica with the same webhook-id", async () => {
    const rcv = await receiver();
    // The consumer takes 4 s to answer the first attempt: the replica dies while waiting.
    rcv.delayMs = 4000;
    const a = await replica();
    const { hook } = validateHook({ id: "crash", type: "webhook", url: rcv.url, timeoutMs: 8000 }, { mode: "create" });
    await a.hooks.registry.create(hook);
    await a.hooks.start();
    const ev = outageEvent("outage.opened", { outageId: "o-crash" });
    await a.hooks.publish(ev);
    await waitFor("first attempt in flight", () => rcv.received.length === 1, 10_000);
    // Crash: the connection vanishes without ack (and the attempt's heartbeats stop).
    await a.nc.close();
    rcv.delayMs = 0;
    const b = await replica();
    await b.hooks.start();
    await waitFor("redelivery", () => rcv.received.length >= 2, 15_000);
    await waitFor(
      "delivered in log",
      async () => (await b.hooks.deliveries.list("crash")).some((r) => r.outcome === "delivered"),
      10_000,
    );
    await new Promise((r) => setTimeout(r, 2500));
    // From the consumer's view it is one delivery: every request carries the same webhook-id.
    expect(new Set(ids(rcv))).toEqual(new Set([`${ev.id}:crash`]));
    expect(rcv.received.length).toBe(2);
  });

  it("410 Gone disables the hook; later events are not enqueued for it", async () => {
    const rcv = await receiver();
    rcv.status = 410;
    const { hooks } = await replica();
    const { hook } = validateHook({ id: "gone", type: "webhook", url: rcv.url }, { mode: "create" });
    await hooks.registry.create(hook);
    await hooks.start();
    await hooks.publish(outageEvent("outage.opened", { outageId: "o-gone" }));
    await waitFor("disabled", async () => (await hooks.registry.get("gone"))?.disabled, 10_000);
    expect((await hooks.registry.get("gone"))?.disabled?.reason).toMatch(/410/);
    // The outcome is recorded just after the hook is disabled.
    const log = await waitFor("the outcome recorded", async () => {
      const l = await hooks.deliveries.list("gone");
      return l.length > 0 ? l : undefined;
    });
    expect(log.map((r) => r.outcome)).toEqual(["disabled"]);
    expect((await hooks.publish(outageEvent("outage.resolved", { outageId: "o-gone" }))).enqueued).not.toContain(
      "gone",
    );
    expect(rcv.received).toHaveLength(1);
  });

  it("gives up at the deadline, logged and counted", async () => {
    const rcv = await receiver();
    rcv.status = 500;
    const { hooks } = await replica();
    const { hook } = validateHook(
      { id: "deadline", type: "webhook", url: rcv.url, deadlineMs: 1500 },
      { mode: "create" },
    );
    await hooks.registry.create(hook);
    await hooks.start();
    await hooks.publish(outageEvent("outage.opened", { outageId: "o-deadline" }));
    await waitFor(
      "gave up",
      async () => (await hooks.deliveries.list("deadline")).some((r) => r.outcome === "gave_up"),
      15_000,
    );
    expect(hooks.stats.gaveUp).toBe(1);
    const n = rcv.received.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(rcv.received.length).toBe(n);
    expect(logs.text()).toMatch(/giving up/);
  });

  it("holds a failback for minHoldMs, and dry-run hooks send nothing", async () => {
    const rcv = await receiver();
    const { hooks } = await replica();
    await hooks.registry.create(
      validateHook(
        { id: "hold", type: "webhook", url: rcv.url, minHoldMs: 2000, events: ["outage.opened", "outage.resolved"] },
        { mode: "create" },
      ).hook,
    );
    await hooks.registry.create(
      validateHook({ id: "dry", type: "webhook", url: rcv.url, dryRun: true }, { mode: "create" }).hook,
    );
    await hooks.start();
    const t0 = Date.now();
    await hooks.publish(outageEvent("outage.opened", { outageId: "o-hold", at: t0 }));
    await waitFor("failover delivered", () => rcv.received.length === 1, 10_000);
    await hooks.publish(outageEvent("outage.resolved", { outageId: "o-hold", at: t0 + 100 }));
    await waitFor("failback delivered", () => rcv.received.length === 2, 10_000);
    const [first, second] = rcv.received;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1900);
    // The outcome is recorded once the receiver has answered: wait for the second delivery's record.
    const log = await waitFor("the failback's outcome recorded", async () => {
      const l = await hooks.deliveries.list("hold");
      return l.filter((r) => r.outcome === "delivered").length === 2 ? l : undefined;
    });
    // Delivered, held (once or, if redelivered a hair early, more), then delivered when the hold ends.
    expect(log.map((r) => r.outcome).join(" ")).toMatch(/^delivered( held)+ delivered$/);
    expect(log.find((r) => r.outcome === "held")?.error).toMatch(/minimum hold of 2000 ms/);
    const dry = await waitFor("dry-run records", async () => {
      const l = await hooks.deliveries.list("dry");
      return l.length === 2 ? l : undefined;
    });
    expect(dry.map((r) => r.outcome)).toEqual(["dry_run", "dry_run"]);
    expect(dry[0]?.result?.action).toMatch(/^would POST/);
    expect(rcv.received.every((r) => String(r.headers["webhook-id"]).endsWith(":hold"))).toBe(true);
  });

  it("actions of one hook and check never overlap, even when a slow older one is still running", async () => {
    // A stand-in "haproxy" adapter whose failover takes 1.5 s: without serialisation the quick
    // failback published 200 ms later would finish first and the stale failover would win.
    const calls: { type: string; start: number; end: number }[] = [];
    let current = "normal";
    const slow: HookAdapter = {
      type: "haproxy",
      readBack: true,
      async apply(event) {
        const start = Date.now();
        await new Promise((r) => setTimeout(r, event.type === "outage.opened" ? 1500 : 50));
        current = event.type === "outage.opened" ? "failed-over" : "normal";
        calls.push({ type: event.type, start, end: Date.now() });
        return { ok: true, action: `set ${current}`, verified: true };
      },
      verify: async () => ({ ok: true, action: "read", verified: true, observed: current }),
    };
    const [a, b] = [
      await replica({ ...FAST, adapters: { haproxy: slow } }),
      await replica({ ...FAST, adapters: { haproxy: slow } }),
    ];
    await a.hooks.registry.create(
      validateHook(
        { id: "serial", type: "haproxy", haproxy: { socket: "/nonexistent.sock", backend: "b", server: "s" } },
        { mode: "create" },
      ).hook,
    );
    await Promise.all([a.hooks.start(), b.hooks.start()]);
    const t = Date.now();
    await a.hooks.publish(outageEvent("outage.opened", { outageId: "o-serial", at: t }));
    await new Promise((r) => setTimeout(r, 200));
    await b.hooks.publish(outageEvent("outage.resolved", { outageId: "o-serial", at: t + 200 }));
    await waitFor("both applied", () => calls.length === 2, 15_000);
    expect(calls.map((c) => c.type)).toEqual(["outage.opened", "outage.resolved"]);
    expect(calls[1]?.start).toBeGreaterThanOrEqual(calls[0]?.end ?? Infinity);
    expect(current).toBe("normal");
    expect(a.hooks.stats.waitedForLease + b.hooks.stats.waitedForLease).toBeGreaterThan(0);
  });

  it("sends a test event on request, and refuses malformed events with a clear, counted error", async () => {
    const rcv = await receiver();
    const { hooks } = await replica();
    await hooks.registry.create(
      validateHook({ id: "tested", type: "webhook", url: rcv.url, events: ["outage.opened"] }, { mode: "create" }).hook,
    );
    await hooks.start();
    const { eventId, deliveryId } = await hooks.test("tested");
    await waitFor("test delivery", () => rcv.received.length === 1, 10_000);
    expect(rcv.received[0]?.headers["webhook-id"]).toBe(deliveryId);
    expect(JSON.parse(rcv.received[0]?.body ?? "{}")).toMatchObject({ id: eventId, type: "test" });
    await expect(
      hooks.publish({ id: "x", type: "outage.exploded", timestamp: "soon", data: {} } as never),
    ).rejects.toThrow(/invalid event/);
    expect(hooks.stats.rejectedEvents).toBe(1);
    await expect(hooks.test("nope")).rejects.toThrow(/not found/);
  });
  it("dead-letters queue messages for an unknown hook or check: counted, never attempted, never retried", async () => {
    const rcv = await receiver();
    const nc = await connect({ servers: nats.url });
    const hooks = createHooks({
      nc,
      log: logs.log,
      secrets: createSecretBox(parseKeyRing(SECRET_KEY).ring),
      checks: { get: async (id) => (id === "web" ? {} : undefined) },
      options: FAST,
    });
    open.push({ nc, hooks });
    const { hook } = validateHook({ id: "dl", type: "webhook", url: rcv.url }, { mode: "create" });
    await hooks.registry.create(hook);
    await hooks.start();
    const js = jetstream(nc);
    const forge = (hookId: string, checkId: string) =>
      js.publish(
        `probemesh.hooks.deliver.${hookId}`,
        JSON.stringify({
          hookId,
          event: outageEvent("outage.opened", { outageId: `forged-${hookId}-${checkId}`, checkId }),
          enqueuedAt: Date.now(),
        }),
      );
    await forge("nobody", "web");
    await forge("dl", "invented");
    await waitFor("two dead letters", () => hooks.stats.deadLettered === 2);
    // The real path still works: a published event for a known check is delivered.
    const ev = outageEvent("outage.opened", { outageId: "o-dl" });
    await hooks.publish(ev);
    await waitFor("the real delivery", () => rcv.received.length === 1);
    expect(ids(rcv)).toEqual([`${ev.id}:dl`]);
    expect(hooks.stats).toMatchObject({ deadLettered: 2, delivered: 1, failedAttempts: 0 });
    expect(logs.text()).toContain("delivery message dead-lettered");
  });
});
