import { EventEmitter } from "node:events";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLifecycle } from "./lifecycle.js";

const log = pino({ level: "silent" });

function setup(graceMs = 15_000) {
  const exits: number[] = [];
  const life = createLifecycle({ log, graceMs, exit: (code) => exits.push(code) });
  return { life, exits };
}

describe("createLifecycle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("stops parts in reverse order of start, past a failing one, then exits with the code", async () => {
    const { life, exits } = setup();
    const order: string[] = [];
    life.onStop(() => void order.push("nats"));
    life.onStop(async () => {
      order.push("store");
      throw new Error("close failed");
    });
    life.onStop(async () => void order.push("api"));
    expect(life.signal.aborted).toBe(false);
    await life.shutdown("test", 0);
    expect(life.signal.aborted).toBe(true);
    expect(order).toEqual(["api", "store", "nats"]);
    expect(exits).toEqual([0]);
  });

  it("also stops a part registered while the shutdown runs", async () => {
    const { life, exits } = setup();
    const order: string[] = [];
    life.onStop(() => void order.push("nats"));
    life.onStop(async () => {
      order.push("api");
      life.onStop(() => void order.push("late"));
    });
    await life.shutdown("test", 0);
    expect(order).toEqual(["api", "late", "nats"]);
    expect(exits).toEqual([0]);
  });

  it("shuts down once, however often asked", async () => {
    const { life, exits } = setup();
    let stops = 0;
    life.onStop(() => void stops++);
    await Promise.all([life.shutdown("a", 0), life.shutdown("b", 1)]);
    await life.shutdown("c", 1);
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  it("forces the exit when a part does not stop within the grace period", async () => {
    vi.useFakeTimers();
    const { life, exits } = setup(1000);
    life.onStop(() => new Promise<void>(() => undefined));
    void life.shutdown("test", 0);
    await vi.advanceTimersByTimeAsync(999);
    expect(exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(exits).toEqual([1]);
  });

  it("shuts down on SIGTERM with 0, forces on a second SIGINT, and exits 1 on an unhandled rejection", async () => {
    const signals = setup();
    const target = new EventEmitter();
    signals.life.onStop(() => new Promise<void>(() => undefined));
    signals.life.handleProcessEvents(target);
    target.emit("SIGINT");
    expect(signals.life.signal.aborted).toBe(true);
    target.emit("SIGINT");
    expect(signals.exits).toEqual([1]);

    const rejection = setup();
    const other = new EventEmitter();
    rejection.life.handleProcessEvents(other);
    other.emit("unhandledRejection", new Error("bug"));
    await vi.waitFor(() => expect(rejection.exits).toEqual([1]));
  });
});
