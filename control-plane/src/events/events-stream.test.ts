import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { HookEvent } from "../hooks/types.js";
import { createEventPublisher, statusEvent, transitionEvent } from "./events-stream.js";
import { formatEventId, parseEventId } from "./live-feed.js";

const event: HookEvent = {
  id: "outage:web:1:outage.opened",
  type: "outage.opened",
  timestamp: "2026-01-01T00:00:00.000Z",
  data: { checkId: "web", state: "down", regions: { "eu-west": { state: "down" } } },
};

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
});
