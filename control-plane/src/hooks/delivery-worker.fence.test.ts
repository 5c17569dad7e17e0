// The delivery worker's fencing decision on queue messages, without a server: stale → not attempted,
// acked and recorded `fenced`; current or unfenced → attempted; malformed → dead-lettered.
// test/hook-fencing.test.ts runs the same on a real nats-server.
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { FenceVerdict } from "../cluster/types.js";
import { createAdapters, type AdapterSet } from "./actions/index.js";
import { createMemoryDeliveryLog } from "./delivery-log.js";
import {
  CLAIMS_SUBJECT_PREFIX,
  DEAD_LETTERS_SUBJECT_PREFIX,
  DELIVERIES_SUBJECT_PREFIX,
  type QueuedDelivery,
} from "./delivery-queue.js";
import { createDeliveryWorker, type DeliveryWorker } from "./delivery-worker.js";
import type { FenceJudge } from "./fence.js";
import { createMemoryHookStateStore } from "./hook-state.js";
import { createMemoryHookRegistry } from "./registry.js";
import type { HookEvent } from "./types.js";
import { validateHook } from "./validate-hook.js";

const log = pino({ level: "silent" });
const T0 = 1_800_000_000_000;

function event(outageId: string): HookEvent {
  return {
    id: `${outageId}:outage.opened`,
    type: "outage.opened",
    timestamp: new Date(T0).toISOString(),
    data: {
      checkId: "web",
      outageId,
      state: "down",
      regions: { "eu-west": { state: "down", since: T0 - 1000 } },
      startedAt: T0 - 1000,
      confirmedAt: T0,
    },
  } as HookEvent;
}

interface FakeMsg {
  msg: JsMsg;
  settled: () => "ack" | "nak" | "term" | undefined;
}

/** A queue message as the worker reads it: payload, headers and JetStream's timestamp. */
function message(seq: number, d: QueuedDelivery, fence: string | undefined, publishedAt: number): FakeMsg {
  let settled: "ack" | "nak" | "term" | undefined;
  let h: MsgHdrs | undefined;
  if (fence !== undefined) {
    h = headers();
    h.set("Probemesh-Fence", fence);
  }
  const data = JSON.stringify(d);
  const msg = {
    subject: `${DELIVERIES_SUBJECT_PREFIX}.${d.hookId}`,
    seq,
    headers: h,
    info: { deliveryCount: 1, timestampNanos: publishedAt * 1e6 },
    json: () => JSON.parse(data) as unknown,
    string: () => data,
    ack: () => void (settled ??= "ack"),
    nak: () => void (settled ??= "nak"),
    term: () => void (settled ??= "term"),
    working: () => {},
  } as unknown as JsMsg;
  return { msg, settled: () => settled };
}

/** JetStream with one batch of messages on the deliveries consumer, and the dead letters published. */
function fakeJetStream(batch: JsMsg[]) {
  const published: { subject: string; data: string }[] = [];
  let served = false;
  const consumer = {
    async fetch() {
      const msgs = served ? [] : batch;
      served = true;
      let stopped = false;
      return {
        stop: () => void (stopped = true),
        async *[Symbol.asyncIterator]() {
          yield* msgs;
          // An empty pull waits a little, as a real one would.
          if (msgs.length === 0 && !stopped) await new Promise((r) => setTimeout(r, 20));
        },
      };
    },
  } as unknown as Consumer;
  const js = {
    consumers: { get: async () => consumer },
    publish: async (subject: string, data: string) => {
      published.push({ subject, data });
      return { duplicate: false, seq: published.length, stream: "dead" };
    },
  } as unknown as JetStreamClient;
  return { js, published };
}

/** Adapters whose webhook records the ids of the events it was asked to deliver, and succeeds. */
function recordingWebhook(): { attempted: string[]; adapters: AdapterSet } {
  const attempted: string[] = [];
  const adapters: AdapterSet = {
    ...createAdapters(),
    webhook: {
      type: "webhook",
      readBack: false,
      apply: async (ev) => {
        attempted.push(ev.id);
        return { ok: true, action: "POST", status: 200 };
      },
      verify: async () => ({ ok: true, action: "none" }),
    },
  };
  return { attempted, adapters };
}

let worker: DeliveryWorker | undefined;
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});

describe("delivery worker fencing", () => {
  it("refuses stale leases before the attempt, delivers current and unfenced ones, dead-letters malformed fences", async () => {
    const registry = createMemoryHookRegistry({ now: () => T0 });
    const { hook } = validateHook({ id: "h", type: "webhook", url: "http://127.0.0.1:9/hook" }, { mode: "create" });
    await registry.create(hook);
    const { attempted, adapters } = recordingWebhook();
    // Partition 3 was taken over at epoch 10 at T0 + 500 (server time).
    const asked: [number, number, number][] = [];
    const fence: FenceJudge = (partition, epoch, publishedAt): FenceVerdict => {
      asked.push([partition, epoch, publishedAt]);
      return partition === 3 && epoch < 10 && publishedAt >= T0 + 500 ? "stale" : "current";
    };
    const q = (outageId: string): QueuedDelivery => ({ hookId: "h", event: event(outageId), enqueuedAt: T0 });
    const stale = message(1, q("stale"), "3:9", T0 + 600);
    const before = message(2, q("before"), "3:9", T0 + 400);
    const current = message(3, q("current"), "3:10", T0 + 700);
    const unfenced = message(4, q("unfenced"), undefined, T0 + 800);
    const malformed = message(5, q("malformed"), "3:nine", T0 + 900);
    const { js, published } = fakeJetStream([stale, before, current, unfenced, malformed].map((m) => m.msg));
    const deliveryLog = createMemoryDeliveryLog();
    worker = createDeliveryWorker({
      js,
      registry,
      deliveryLog,
      state: createMemoryHookStateStore(),
      adapters,
      fence,
      log,
      now: () => T0 + 1000,
    });
    await worker.start();
    const settledAll = () => [stale, before, current, unfenced, malformed].every((m) => m.settled() !== undefined);
    for (let i = 0; i < 200 && !settledAll(); i++) await new Promise((r) => setTimeout(r, 10));

    expect(attempted.sort()).toEqual(["before:outage.opened", "current:outage.opened", "unfenced:outage.opened"]);
    expect([stale, before, current, unfenced, malformed].map((m) => m.settled())).toEqual([
      "ack",
      "ack",
      "ack",
      "ack",
      "term",
    ]);
    // The judge got the header's partition and epoch and JetStream's timestamp (ms), never the worker's clock.
    expect(asked).toEqual(
      expect.arrayContaining([
        [3, 9, T0 + 600],
        [3, 9, T0 + 400],
        [3, 10, T0 + 700],
      ]),
    );
    expect(asked).toHaveLength(3);
    const records = deliveryLog.all();
    expect(records.find((r) => r.eventId === "stale:outage.opened")).toMatchObject({
      outcome: "fenced",
      fence: { partition: 3, epoch: 9 },
      error: expect.stringContaining("epoch 9 of partition 3"),
    });
    expect(records.find((r) => r.eventId === "current:outage.opened")).toMatchObject({
      outcome: "delivered",
      fence: { partition: 3, epoch: 10 },
    });
    const plain = records.find((r) => r.eventId === "unfenced:outage.opened");
    expect(plain).toMatchObject({ outcome: "delivered" });
    expect(plain?.fence).toBeUndefined();
    expect(records.some((r) => r.eventId === "malformed:outage.opened")).toBe(false);
    // Each delivery attempted was claimed first (the stale one never was); one dead letter.
    const claims = published.filter((p) => p.subject.startsWith(`${CLAIMS_SUBJECT_PREFIX}.`));
    expect(claims.map((c) => (JSON.parse(c.data) as { seq: number }).seq).sort()).toEqual([2, 3, 4]);
    const letters = published.filter((p) => !p.subject.startsWith(`${CLAIMS_SUBJECT_PREFIX}.`));
    expect(letters).toHaveLength(1);
    expect(letters[0]?.subject).toBe(`${DEAD_LETTERS_SUBJECT_PREFIX}.malformed`);
    expect(JSON.parse(letters[0]?.data ?? "{}")).toMatchObject({
      reason: "malformed",
      detail: expect.stringContaining("Probemesh-Fence"),
      seq: 5,
    });
    expect(worker.stats).toMatchObject({ fenced: 1, delivered: 3, malformed: 1, deadLettered: 1 });
  });
});

describe("delivery worker after a stall", () => {
  /** Runs one queue message through a worker whose stall watch answers `stalled(call)` on its n-th question. */
  async function runOne(stalled: (call: number) => boolean) {
    const registry = createMemoryHookRegistry({ now: () => T0 });
    const { hook } = validateHook({ id: "h", type: "webhook", url: "http://127.0.0.1:9/hook" }, { mode: "create" });
    await registry.create(hook);
    const { attempted, adapters } = recordingWebhook();
    const m = message(1, { hookId: "h", event: event("o1"), enqueuedAt: T0 }, undefined, T0);
    const { js, published } = fakeJetStream([m.msg]);
    let calls = 0;
    const w = createDeliveryWorker({
      js,
      registry,
      deliveryLog: createMemoryDeliveryLog(),
      state: createMemoryHookStateStore(),
      adapters,
      log,
      now: () => T0 + 1000,
      stallWatch: { now: () => 0, stalledSince: () => stalled(calls++), stalls: 0, stop: () => {} },
    });
    worker = w;
    await w.start();
    for (let i = 0; i < 100 && m.settled() === undefined && w.stats.stalled === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    await w.stop();
    return { attempted, settled: m.settled(), stats: w.stats, claims: published.length, calls };
  }

  it("a delivery received around a stall is neither attempted nor settled: JetStream redelivers it", async () => {
    const r = await runOne(() => true);
    expect(r).toMatchObject({ attempted: [], settled: undefined, claims: 0 });
    expect(r.stats).toMatchObject({ stalled: 1, delivered: 0 });
  });

  it("a stall while the delivery is prepared (after its claim) still stops the attempt", async () => {
    const r = await runOne((call) => call >= 1);
    expect(r).toMatchObject({ attempted: [], settled: undefined, claims: 1, calls: 2 });
    expect(r.stats).toMatchObject({ stalled: 1, delivered: 0 });
  });

  it("without a stall the delivery is attempted and acked", async () => {
    const r = await runOne(() => false);
    expect(r).toMatchObject({ attempted: ["o1:outage.opened"], settled: "ack", calls: 2 });
    expect(r.stats).toMatchObject({ stalled: 0, delivered: 1 });
  });
});
