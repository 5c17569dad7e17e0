import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Outage } from "../consensus/types.js";
import type { HookEvent, HookEventType } from "../hooks/types.js";
import { createDependencyGate } from "./hook-gate.js";

const log = pino({ level: "silent" });

function incident(id: string, suppressedBy: string[] = ["db"]): Outage {
  return {
    id,
    checkId: "app",
    kind: "outage",
    state: "open",
    startedAt: 1000,
    confirmedAt: 2000,
    resolvedAt: null,
    regions: ["eu-west"],
    reason: "connect",
    ...(suppressedBy.length > 0 ? { suppressedBy } : {}),
  };
}

function event(type: HookEventType, outageId: string, at = 2000, suppressedBy = ["db"]): HookEvent {
  return {
    id: `${outageId}:${type}`,
    type,
    timestamp: new Date(at).toISOString(),
    data: {
      checkId: "app",
      outageId,
      kind: "outage",
      state: "down",
      regions: {},
      confirmedAt: 2000,
      ...(suppressedBy.length > 0 ? { suppressedBy } : {}),
    },
  };
}

function setup(open: Outage | null, down: string[]) {
  const world = { open, down };
  const gate = createDependencyGate({
    incident: () => world.open,
    dependenciesDown: () => world.down,
    log,
  });
  return { world, gate };
}

describe("the dependency gate", () => {
  it("holds a suppressed opening while a dependency is down, and releases it when they all recover", () => {
    const { world, gate } = setup(incident("o1"), ["db"]);
    expect(gate.filter([event("outage.opened", "o1")], 2000)).toEqual([]);
    expect(gate.release(3000)).toEqual([]);
    expect(gate.stats()).toMatchObject({ held: 1 });
    world.down = [];
    const released = gate.release(4000);
    expect(released).toEqual([{ ...event("outage.opened", "o1"), timestamp: new Date(4000).toISOString() }]);
    expect(gate.stats()).toEqual({ suppressed: 0, released: 1, held: 0 });
    // Its end after the release goes through.
    const resolved = event("outage.resolved", "o1", 5000);
    expect(gate.filter([resolved], 5000)).toEqual([resolved]);
  });

  it("announces nothing of a suppressed incident that closes while the dependency is down", () => {
    const { world, gate } = setup(incident("o1"), ["db"]);
    gate.filter([event("outage.opened", "o1")], 2000);
    world.open = null;
    expect(gate.filter([event("outage.resolved", "o1", 3000)], 3000)).toEqual([]);
    world.down = [];
    expect(gate.release(4000)).toEqual([]);
    expect(gate.stats()).toEqual({ suppressed: 1, released: 0, held: 0 });
  });

  it("tells what it holds back (GET /v1/events): the opening and the end of a suppressed incident, with the dependencies", () => {
    const { world, gate } = setup(incident("o1"), ["db"]);
    const held: [string, unknown][] = [];
    const onHeld = (e: HookEvent, by: unknown) => void held.push([e.id, by]);
    gate.filter([event("outage.opened", "o1")], 2000, onHeld);
    world.down = ["db", "cache"];
    gate.filter([event("outage.opened", "o1")], 2500, onHeld);
    world.open = null;
    gate.filter([event("outage.resolved", "o1", 3000)], 3000, onHeld);
    const free = event("outage.opened", "o2", 4000, []);
    expect(gate.filter([free], 4000, onHeld)).toEqual([free]);
    const by = { by: "dependency", checkIds: ["db"] };
    expect(held).toEqual([
      ["o1:outage.opened", by],
      ["o1:outage.opened", by],
      ["o1:outage.resolved", by],
    ]);
  });

  it("passes incidents that are not suppressed, and suppressed ones whose dependencies already recovered", () => {
    const plain = setup(incident("o1", []), ["db"]);
    const opened = event("outage.opened", "o1", 2000, []);
    expect(plain.gate.filter([opened], 2000)).toEqual([opened]);
    const recovered = setup(incident("o2"), []);
    expect(recovered.gate.filter([event("outage.opened", "o2")], 2000)).toHaveLength(1);
  });

  it("drops a held opening whose incident vanished without an end event (check deleted)", () => {
    const { world, gate } = setup(incident("o1"), ["db"]);
    gate.filter([event("outage.opened", "o1")], 2000);
    world.open = null;
    world.down = [];
    expect(gate.release(3000)).toEqual([]);
    expect(gate.stats().held).toBe(0);
  });
});
