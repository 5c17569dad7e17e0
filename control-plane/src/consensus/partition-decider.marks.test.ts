// The decider's impairment marks: written from its engine's agent transitions under the lease only,
// reconciled with its engine after warm-up, and marks of other partitions applied to its engine.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { AgentHealth, Transition } from "./types.js";
import { createConsensusEngine, type ConsensusEngine } from "./engine.js";
import { createIncidentSaver } from "./incident-saver.js";
import type { ImpairmentMark, ImpairmentMarks } from "./impairment-marks.js";
import { createPartitionDecider } from "./partition-decider.js";

const log = pino({ level: "silent" });
const PART = 3;

async function eventually(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A real engine whose ticks also return the transitions queued in `next`, and whose agents can be set. */
function scriptedEngine() {
  const real = createConsensusEngine({ now: Date.now });
  const next: Transition[] = [];
  const external: [string, string | null][] = [];
  let impaired: AgentHealth[] = [];
  const engine: ConsensusEngine = {
    ...real,
    tick: (t) => [...real.tick(t), ...next.splice(0)],
    agents: () => impaired,
    setExternalImpairment: (agentId, reason) => {
      external.push([agentId, reason]);
      return real.setExternalImpairment(agentId, reason);
    },
  };
  const agent = (agentId: string, reason: string): AgentHealth => ({
    agentId,
    region: "eu-west",
    impaired: true,
    reason,
    since: 5,
    checks: 0,
    contradicted: 0,
    canariesDown: 1,
  });
  return { engine, next, external, setImpaired: (list: AgentHealth[]) => (impaired = list), agent };
}

function memoryMarks(initial: [string, ImpairmentMark][] = []) {
  const kv = new Map<string, ImpairmentMark>(initial);
  const marks: Pick<ImpairmentMarks, "put" | "delete" | "list"> = {
    put: async (p, a, m) => void kv.set(`${a}.p${p}`, m),
    delete: async (p, a) => void kv.delete(`${a}.p${p}`),
    list: async (p) =>
      new Map(
        [...kv.entries()].filter(([k]) => k.endsWith(`.p${p}`)).map(([k, m]) => [k.slice(0, -`.p${p}`.length), m]),
      ),
  };
  return { kv, marks };
}

function decider(engine: ConsensusEngine, marks: Pick<ImpairmentMarks, "put" | "delete" | "list">) {
  const lease = { held: true };
  const d = createPartitionDecider({
    lease: { partition: PART, epoch: 1 },
    partitions: 8,
    leases: { holds: () => lease.held },
    engine,
    checks: [],
    registry: { record: () => undefined },
    openFeed: async (_req, handlers) => {
      queueMicrotask(() => handlers.caughtUp());
      return { stop: async () => undefined };
    },
    incidents: { put: async () => {}, delete: async () => {}, list: async () => [], listAll: async () => [] },
    saver: createIncidentSaver({ outageStore: { saveOutages: async () => {} }, log }),
    marks,
    log,
    tickMs: 5,
  });
  return { d, lease };
}

const impairedT = (agentId: string, reason: string, type: "agent.impaired" | "agent.recovered" = "agent.impaired") => ({
  type,
  agentId,
  region: "eu-west",
  at: 7,
  reason,
});

describe("partition decider: impairment marks", () => {
  it("marks what its engine judges, deletes at recovery, and after warm-up reconciles the stored marks", async () => {
    const s = scriptedEngine();
    // Left by the previous owner: one still true, one stale.
    const { kv, marks } = memoryMarks([
      ["a-still.p3", { reason: "canary", since: 1 }],
      ["a-stale.p3", { reason: "canary", since: 1 }],
      ["a-stale.p4", { reason: "other partition", since: 1 }],
    ]);
    s.setImpaired([s.agent("a-still", "canary"), s.agent("a-new", "share")]);
    const { d } = decider(s.engine, marks);
    await d.start();
    await eventually("reconciled", () => !kv.has("a-stale.p3") && kv.has("a-new.p3"));
    expect([...kv.keys()].sort()).toEqual(["a-new.p3", "a-stale.p4", "a-still.p3"]);
    expect(kv.get("a-new.p3")).toEqual({ reason: "share", since: 5, region: "eu-west" });

    s.next.push(impairedT("a-live", "canary x"));
    await eventually("marked", () => kv.has("a-live.p3"));
    expect(kv.get("a-live.p3")).toEqual({ reason: "canary x", since: 7, region: "eu-west" });
    s.next.push(impairedT("a-live", "canary x", "agent.recovered"));
    await eventually("unmarked", () => !kv.has("a-live.p3"));
    await d.stop();
  });

  it("writes nothing once its lease no longer holds", async () => {
    const s = scriptedEngine();
    const { kv, marks } = memoryMarks();
    const { d, lease } = decider(s.engine, marks);
    await d.start();
    lease.held = false;
    s.next.push(impairedT("a1", "canary"));
    await new Promise((r) => setTimeout(r, 50));
    expect(kv.size).toBe(0);
    expect(d.stats().fencedOff).toBeGreaterThan(0);
    await d.stop();
  });

  it("passes marks of other partitions to its engine", async () => {
    const s = scriptedEngine();
    const { d } = decider(s.engine, memoryMarks().marks);
    d.setExternalImpairment("a1", "impaired in partition 0: canary");
    d.setExternalImpairment("a1", null);
    expect(s.external).toEqual([
      ["a1", "impaired in partition 0: canary"],
      ["a1", null],
    ]);
    await d.stop();
  });
});
