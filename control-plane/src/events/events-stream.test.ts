import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { HookEvent } from "../hooks/types.js";
import { backoffPolicy } from "../backoff.js";
import { createEventPublisher, isRetryablePublishError, statusEvent, transitionEvent } from "./events-stream.js";
import { formatEventId, parseEventId } from "./live-feed.js";

const event: HookEvent = {
  id: "outage:web:1:outage.opened",
  type: "outage.opened",
  timestamp: "2026-01-01T00:00:00.000Z",
  data: { checkId: "web", state: "down", regions: { "eu-west": { state: "down" } } },
};

/** A logger whose lines are kept, parsed. */
function capturingLog() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino(
    { level: "info" },
    { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) },
  );
  return { log, lines };
}

describe("live events", () => {
  it("a transition carries the hook event with its check and time lifted up", () => {
    expect(transitionEvent(event)).toEqual({
      id: event.id,
      type: "outage.opened",
      checkId: "web",
      at: 1767225600000,
      timestamp: event.timestamp,
      data: event.data,
    });
  });

  it("a status event keeps state, since (null when never) and each region's state", () => {
    const region = { lastResultAt: 5, impairedReason: "", lastReason: "", error: "", agents: [] };
    expect(
      statusEvent({
        checkId: "web",
        state: "partial",
        reason: "",
        since: 0,
        regions: { a: { ...region, state: "down", since: 4, impaired: true } },
        outage: null,
      }),
    ).toEqual({
      checkId: "web",
      state: "partial",
      since: null,
      regions: { a: { state: "down", since: 4, impaired: true } },
    });
  });

  it("event ids round-trip both positions; anything else is not one", () => {
    expect(parseEventId(formatEventId({ events: 12, deliveries: 3 }))).toEqual({ events: 12, deliveries: 3 });
    for (const bad of ["", "12", "a-b", "1-2-3", "-1-2"]) expect(parseEventId(bad)).toBeUndefined();
  });

  it("a region change and the check's change from one decision publish one status (same message id)", async () => {
    const ids: string[] = [];
    const p = createEventPublisher({
      js: {
        publish: async (_subject: string, _data: unknown, opts?: { msgID?: string }) => {
          ids.push(opts?.msgID ?? "");
          return { duplicate: false, seq: ids.length, stream: "PROBEMESH_EVENTS", domain: "" } as never;
        },
      } as never,
      leases: { holds: () => true },
      log: pino({ level: "silent" }),
    });
    const fence = { partition: 3, epoch: 9 };
    const down = { checkId: "web", state: "down", reason: "", since: 5, regions: {}, outage: null } as never;
    const up = { checkId: "web", state: "up", reason: "", since: 9, regions: {}, outage: null } as never;
    p.statusChanged(
      { type: "region.state", checkId: "web", region: "eu", from: "up", to: "down", at: 5 } as never,
      fence,
      down,
    );
    p.statusChanged({ type: "check.state", checkId: "web", from: "up", to: "down", at: 5 } as never, fence, down);
    p.statusChanged({ type: "check.state", checkId: "web", from: "down", to: "up", at: 9 } as never, fence, up);
    await new Promise((r) => setTimeout(r, 0));
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it("publishes only under a lease still held, with a message id from the data", async () => {
    const published: { subject: string; msgID: string }[] = [];
    let held = true;
    const p = createEventPublisher({
      js: {
        publish: async (subject: string, _data: unknown, opts?: { msgID?: string }) => {
          published.push({ subject, msgID: opts?.msgID ?? "" });
          return { duplicate: false, seq: published.length, stream: "PROBEMESH_EVENTS", domain: "" } as never;
        },
      } as never,
      leases: { holds: () => held },
      log: pino({ level: "silent" }),
    });
    const fence = { partition: 3, epoch: 9 };
    p.transition(event, fence);
    held = false;
    p.transition(event, fence);
    await new Promise((r) => setTimeout(r, 0));
    expect(published).toEqual([{ subject: "probemesh.events.transition.3", msgID: `transition:${event.id}` }]);
    expect(p.stats()).toMatchObject({ published: 1, notOwner: 1 });
  });

  it("a held event is a transition marked held, under its own id (its later release is published apart)", async () => {
    const published: { subject: string; msgID: string; data: unknown }[] = [];
    const p = createEventPublisher({
      js: {
        publish: async (subject: string, data: string, opts?: { msgID?: string }) => {
          published.push({ subject, msgID: opts?.msgID ?? "", data: JSON.parse(data) });
          return { duplicate: false, seq: published.length, stream: "PROBEMESH_EVENTS", domain: "" } as never;
        },
      } as never,
      leases: { holds: () => true },
      log: pino({ level: "silent" }),
    });
    const fence = { partition: 3, epoch: 9 };
    p.held(event, { by: "maintenance", windowId: "upgrade" }, fence);
    p.transition(event, fence);
    await new Promise((r) => setTimeout(r, 0));
    expect(published).toEqual([
      {
        subject: "probemesh.events.transition.3",
        msgID: `transition:held:${event.id}`,
        data: { ...transitionEvent(event), held: { by: "maintenance", windowId: "upgrade" } },
      },
      { subject: "probemesh.events.transition.3", msgID: `transition:${event.id}`, data: transitionEvent(event) },
    ]);
  });

  it("while the stream is unavailable, events wait and go out in order once it is back; one warning per episode", async () => {
    const stored: string[] = [];
    let available = false;
    const { log, lines } = capturingLog();
    const p = createEventPublisher({
      js: {
        publish: async (_subject: string, _data: unknown, opts?: { msgID?: string }) => {
          await new Promise((r) => setTimeout(r, 0));
          // What nats.js throws when nobody answers the publish (the stream electing a leader).
          if (!available) throw Object.assign(new Error("jetstream is not enabled"), { name: "JetStreamNotEnabled" });
          stored.push(opts?.msgID ?? "");
          return { duplicate: false, seq: stored.length, stream: "PROBEMESH_EVENTS", domain: "" } as never;
        },
      } as never,
      leases: { holds: () => true },
      log,
      retry: backoffPolicy({ initialMs: 5, maxMs: 5, jitter: "none" }),
    });
    const fence = { partition: 3, epoch: 9 };
    for (let i = 0; i < 5; i++) p.transition({ ...event, id: `e${i}` }, fence);
    await new Promise((r) => setTimeout(r, 30));
    expect(p.stats()).toMatchObject({ published: 0, waiting: 5, failures: 0 });
    expect(p.stats().retries).toBeGreaterThanOrEqual(5);
    p.transition({ ...event, id: "e5" }, fence);
    available = true;
    await p.idle();
    expect(stored).toEqual(["e0", "e1", "e2", "e3", "e4", "e5"].map((id) => `transition:${id}`));
    expect(p.stats()).toMatchObject({ published: 6, waiting: 0, failures: 0, dropped: 0 });
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings.map((l) => l.msg)).toEqual([
      "could not publish live events; they wait and are retried until the events stream takes them",
    ]);
    expect(lines.filter((l) => l.msg === "live events published again")).toHaveLength(1);
  });

  it("an event the server refuses for good is counted lost, not retried; too many waiting are dropped, counted", async () => {
    let calls = 0;
    const p = createEventPublisher({
      js: {
        publish: async () => {
          calls++;
          throw Object.assign(new Error("message too large"), { name: "InvalidArgumentError" });
        },
      } as never,
      leases: { holds: () => true },
      log: pino({ level: "silent" }),
    });
    p.transition(event);
    await p.idle();
    expect(calls).toBe(1);
    expect(p.stats()).toMatchObject({ failures: 1, retries: 0, waiting: 0 });

    const q = createEventPublisher({
      js: { publish: () => Promise.reject(new Error("timeout")) } as never,
      leases: { holds: () => true },
      log: pino({ level: "silent" }),
      maxInFlight: 2,
      retry: backoffPolicy({ initialMs: 60_000, jitter: "none" }),
    });
    for (let i = 0; i < 4; i++) q.transition({ ...event, id: `e${i}` });
    await new Promise((r) => setTimeout(r, 0));
    expect(q.stats()).toMatchObject({ dropped: 2, waiting: 2, published: 0 });
  });

  it("retryable: timeouts, no responders, 503; not: a 4xx answer, a closed connection, a bad argument", () => {
    expect(isRetryablePublishError(Object.assign(new Error("x"), { name: "TimeoutError" }))).toBe(true);
    expect(isRetryablePublishError(Object.assign(new Error("x"), { name: "JetStreamNotEnabled" }))).toBe(true);
    expect(isRetryablePublishError(Object.assign(new Error("x"), { name: "JetStreamApiError", status: 503 }))).toBe(
      true,
    );
    expect(isRetryablePublishError(Object.assign(new Error("x"), { name: "JetStreamApiError", status: 400 }))).toBe(
      false,
    );
    expect(isRetryablePublishError(Object.assign(new Error("x"), { name: "ClosedConnectionError" }))).toBe(false);
    expect(isRetryablePublishError(Object.assign(new Error("x"), { name: "InvalidArgumentError" }))).toBe(false);
  });

  it("a connection closed while events wait loses them all at once, counted, in one line", async () => {
    let closed = false;
    const { log, lines } = capturingLog();
    const p = createEventPublisher({
      js: {
        publish: () =>
          Promise.reject(
            closed
              ? Object.assign(new Error("closed"), { name: "ClosedConnectionError" })
              : Object.assign(new Error("timeout"), { name: "TimeoutError" }),
          ),
      } as never,
      leases: { holds: () => true },
      log,
      retry: backoffPolicy({ initialMs: 5, maxMs: 5, jitter: "none" }),
    });
    for (let i = 0; i < 3; i++) p.transition({ ...event, id: `e${i}` });
    await new Promise((r) => setTimeout(r, 20));
    closed = true;
    await p.idle();
    expect(p.stats()).toMatchObject({ failures: 3, waiting: 0, published: 0 });
    expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      "could not publish live events; they wait and are retried until the events stream takes them",
      "NATS connection closed; waiting live events are lost",
    ]);
    expect(lines.filter((l) => l.msg === "live events published again")).toEqual([]);
  });
});
