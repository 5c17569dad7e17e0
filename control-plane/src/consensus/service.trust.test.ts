// The consensus feed: warm-up results (stored history) go through the same sender binding as ingest;
// live rows (bound by ingest before it stored them) meet the engine's vote bound; a revocation
// withdraws the agent's votes at once.
import { checkFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createResultBinding } from "../ingest/result-binding.js";
import { followChecks } from "../ingest/follow-checks.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { ResultRow } from "../store/types.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createConsensusEngine } from "./engine.js";
import { createConsensusService } from "./service.js";
import type { Observation, Transition } from "./types.js";

const log = pino({ level: "silent" });
const R3 = ["eu-west", "us-east", "ap-south"];
const I = 10_000;

function row(agentId: string, region: string, startedAt: number, state: "up" | "down", checkId = "web"): ResultRow {
  return {
    id: `${checkId}-${agentId}-${region}-${startedAt}`,
    checkId,
    checkVersion: 1,
    agentId,
    region,
    provider: "test",
    startedAt,
    durationMs: 5,
    state,
    reason: state === "down" ? "connect" : "",
    message: "",
    phases: { dnsMs: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, transferMs: 0 },
    seq: startedAt,
    attempts: 1,
    target: "",
    canary: false,
    lagMs: 0,
    httpStatus: 0,
    bodyBytes: 0,
    details: {},
  };
}

async function setup(recent: Observation[] = []) {
  let clock = 1_000_000;
  const registry = createMemoryRegistry({ log, now: () => 0 });
  await registry.create(checkFixture("web", { intervalMs: I, timeoutMs: 2000 }));
  await registry.create(checkFixture("eu-only", { intervalMs: I, timeoutMs: 2000, regions: ["eu-west"] }));
  const enrollments = createMemoryEnrollments();
  for (const r of R3) await enrollments.enroll({ id: `agent-${r}`, region: r, provider: "test" });
  await enrollments.enroll({ id: "agent-gone", region: "sa-east", provider: "test" });
  await enrollments.revoke("agent-gone");
  const checks = followChecks(registry);
  const binding = createResultBinding({ enrollments, check: checks.get, partitions: 16 });
  const engine = createConsensusEngine({ now: () => clock, mayVote: (id, r) => enrollments.mayVote(id, r) });
  const seen: Transition[] = [];
  const service = createConsensusService({
    engine,
    outageStore: {
      saveOutages: async () => undefined,
      openIncidents: async () => [],
      recentObservations: async () => recent,
    },
    registry,
    log,
    now: () => clock,
    tickMs: 10,
    binding,
    enrollments,
    onTransition: (t) => void seen.push(t),
  });
  await service.start();
  const feed = (rows: [agentId: string, region: string, state: "up" | "down", checkId?: string][]) => {
    service.onStored(rows.map(([a, r, s, c], i) => row(a, r, clock + i, s, c)));
    clock += I;
  };
  return { engine, service, enrollments, seen, feed, stop: () => (checks.stop(), service.stop()) };
}

describe("consensus service: results bound to their senders", () => {
  it("forged rows handed over directly change no verdict: the engine's vote bound ignores them", async () => {
    const m = await setup();
    for (let k = 0; k < 4; k++) {
      m.feed([
        ["agent-eu-west", "eu-west", "up"],
        ["agent-us-east", "us-east", "up"],
        ["agent-ap-south", "ap-south", "up"],
        // A real agent voting for other regions, invented agents, a revoked one, a check not run there.
        ["agent-eu-west", "us-east", "down"],
        ["agent-eu-west", "mars-1", "down"],
        ["ghost-1", "x1", "down"],
        ["ghost-2", "x2", "down"],
        ["agent-gone", "sa-east", "down"],
        ["agent-us-east", "us-east", "down", "eu-only"],
      ]);
    }
    expect(m.engine.status("web")?.state).toBe("up");
    expect(Object.keys(m.engine.status("web")!.regions).sort()).toEqual([...R3].sort());
    expect(m.engine.status("eu-only")?.regions["eu-west"]?.agents).toEqual([]);
    expect(m.seen.filter((t) => t.type === "outage.opened" || t.type === "partial.opened")).toEqual([]);
    expect(m.engine.stats()).toMatchObject({ ignoredNotVoter: 4 * 5, ignoredOtherRegion: 4 });
    await m.stop();
  });

  it("warm-up skips stored results the binding refuses", async () => {
    const at = 1_000_000 - I;
    const recent: Observation[] = ["x1", "x2", "x3", "x4"].map((region) => ({
      checkId: "web",
      agentId: `ghost-${region}`,
      region,
      startedAt: at,
      durationMs: 5,
      state: "down",
      reason: "connect",
      canary: false,
    }));
    const m = await setup(recent);
    expect(m.service.stats()).toMatchObject({ warmUpResults: 4, untrusted: { notEnrolled: 4 } });
    expect(m.engine.status("web")?.regions).toEqual({});
    await m.stop();
  });

  it("a revocation withdraws the agent's votes and forgets it", async () => {
    const m = await setup();
    for (let k = 0; k < 3; k++)
      m.feed([
        ["agent-eu-west", "eu-west", "down"],
        ["agent-us-east", "us-east", "down"],
        ["agent-ap-south", "ap-south", "up"],
      ]);
    expect(m.engine.status("web")?.state).toBe("down");
    await m.enrollments.revoke("agent-eu-west");
    expect(m.engine.agent("agent-eu-west")).toBeUndefined();
    expect(Object.keys(m.engine.status("web")!.regions).sort()).toEqual(["ap-south", "us-east"]);
    expect(m.seen.some((t) => t.type === "region.resolved" && t.outage.regions[0] === "eu-west")).toBe(true);
    m.feed([["agent-eu-west", "eu-west", "down"]]);
    expect(m.engine.stats().ignoredNotVoter).toBe(1);
    await m.stop();
  });
});
