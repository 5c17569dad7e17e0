import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState, partitionOf, resultSubject } from "@probemesh/proto";
import { checkFixture, probeResultFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createStaticLeases } from "../testing/static-leases.js";
import type { PartitionLease } from "../cluster/types.js";
import { followChecks } from "../ingest/follow-checks.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createConsensusCluster } from "./cluster.js";
import type { IncidentKv } from "./incident-kv.js";
import type { FeedHandlers, OpenFeed } from "./result-feed.js";
import type { Outage, Transition } from "./types.js";

const log = pino({ level: "silent" });
const R3 = ["eu-west", "us-east", "ap-south"];
const P = 4;

/** Each partition's live feed, caught up at once (nothing to replay). */
function memoryFeeds() {
  const feeds = new Map<number, FeedHandlers>();
  const openFeed: OpenFeed = async (req, handlers) => {
    feeds.set(req.partition, handlers);
    queueMicrotask(() => handlers.caughtUp());
    return { stop: async () => void feeds.delete(req.partition) };
  };
  return { feeds, openFeed };
}

describe("consensus cluster", () => {
  it("runs a decider per owned partition, routes checks by uid and hands transitions on with their fence", async () => {
    let clock = 1_000_000;
    let n = 0;
    const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => `uid-${++n}` });
    for (const id of ["a", "b", "c"])
      await registry.create(checkFixture(id, { intervalMs: 10_000, timeoutMs: 2000, regions: R3 }));
    const checks = followChecks(registry);
    const { feeds, openFeed } = memoryFeeds();
    const kv = new Map<string, Outage>();
    const incidents: IncidentKv = {
      put: async (p, o) => void kv.set(`p${p}.${o.id}`, o),
      delete: async (p, id) => void kv.delete(`p${p}.${id}`),
      list: async () => [],
      listAll: async () => [...kv.values()],
    };
    const leases = createStaticLeases({ partitions: P, epoch: 5 });
    const seen: { t: Transition; fence: PartitionLease }[] = [];
    const cluster = createConsensusCluster({
      leases,
      registry,
      checks,
      openFeed,
      incidents,
      outageStore: { saveOutages: async () => undefined },
      onTransition: (t, fence) => void seen.push({ t, fence }),
      log,
      now: () => clock,
    });
    await cluster.start();
    await leases.start();
    expect(cluster.stats().deciders.map((d) => d.partition)).toEqual([0, 1, 2, 3]);
    for (const id of ["a", "b", "c"]) {
      expect(cluster.decides(id)).toBe(true);
      expect(cluster.partitionOfCheck(id)).toBe(partitionOf(checks.get(id)!.uid, P));
      expect(cluster.status(id)?.state).toBe("unknown");
    }

    // b goes down everywhere, on its partition's subjects.
    const pb = cluster.partitionOfCheck("b")!;
    for (let k = 0; k < 2; k++) {
      R3.forEach((region, i) => {
        const r = probeResultFixture({
          id: `b-${region}-${k}`,
          checkId: "b",
          agentId: `agent-${region}`,
          region,
          startedAtMs: BigInt(clock + i),
          state: ProbeState.DOWN,
          reason: "connect",
        });
        feeds.get(pb)!.message({
          subject: resultSubject(region, `agent-${region}`, pb),
          data: toBinary(ProbeResultSchema, r),
        });
      });
      clock += 10_000;
    }
    const opened = seen.find((s) => s.t.type === "outage.opened");
    expect(opened?.fence).toEqual({ partition: pb, epoch: 5 });
    expect(cluster.status("b")?.state).toBe("down");
    expect(cluster.agent("agent-eu-west")).toMatchObject({ agentId: "agent-eu-west", impaired: false });
    await cluster.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect((await cluster.openIncidents()).filter((o) => o.kind === "outage").map((o) => o.checkId)).toEqual(["b"]);

    // A deleted check leaves its decider.
    await registry.delete("a");
    expect(cluster.status("a")).toBeUndefined();
    expect(cluster.decides("a")).toBe(false);

    await cluster.stop();
    await leases.stop();
    expect(cluster.stats().deciders).toEqual([]);
    expect(cluster.status("b")).toBeUndefined();
  });

  it("follows registry edits and deletions, retries ClickHouse saves, and withdraws a revoked agent's votes", async () => {
    let clock = 1_000_000;
    const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => "uid-web" });
    await registry.create(checkFixture("web", { intervalMs: 10_000, timeoutMs: 2000, regions: R3 }));
    const checks = followChecks(registry);
    const { feeds, openFeed } = memoryFeeds();
    const incidents: IncidentKv = {
      put: async () => undefined,
      delete: async () => undefined,
      list: async () => [],
      listAll: async () => [],
    };
    const saved = new Map<string, Outage>();
    let failures = 2;
    const enrollments = createMemoryEnrollments();
    for (const r of R3) await enrollments.enroll({ id: `agent-${r}`, region: r, provider: "test" });
    const leases = createStaticLeases({ partitions: P });
    const seen: Transition[] = [];
    const cluster = createConsensusCluster({
      leases,
      registry,
      checks,
      enrollments,
      openFeed,
      incidents,
      outageStore: {
        saveOutages: async (list) => {
          if (failures-- > 0) throw new Error("ClickHouse is down");
          for (const o of list) saved.set(o.id, o);
        },
      },
      onTransition: (t) => void seen.push(t),
      log,
      now: () => clock,
      tickMs: 10,
    });
    await cluster.start();
    await leases.start();
    const p = cluster.partitionOfCheck("web")!;
    const round = (states: Record<string, "up" | "down">) => {
      Object.entries(states).forEach(([region, state], i) => {
        const r = probeResultFixture({
          id: `web-${region}-${clock}`,
          checkId: "web",
          agentId: `agent-${region}`,
          region,
          startedAtMs: BigInt(clock + i),
          state: state === "up" ? ProbeState.UP : ProbeState.DOWN,
          reason: state === "down" ? "connect" : "",
        });
        feeds.get(p)!.message({
          subject: resultSubject(region, `agent-${region}`, p),
          data: toBinary(ProbeResultSchema, r),
        });
      });
      clock += 10_000;
    };
    for (let k = 0; k < 2; k++) round({ "eu-west": "down", "us-east": "down", "ap-south": "up" });
    expect(cluster.status("web")?.state).toBe("down");
    const outageId = cluster.status("web")!.outage!.id;

    // ClickHouse refuses twice: the incidents wait and the tick saves them.
    await expect(cluster.flush()).rejects.toThrow(/ClickHouse is down/);
    const deadline = Date.now() + 5000;
    while (cluster.stats().pendingSaves > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(cluster.stats()).toMatchObject({ pendingSaves: 0, saveFailures: 2 });
    expect(saved.get(outageId)).toMatchObject({ state: "open", regions: ["eu-west", "us-east"] });

    // An edit reaches the decider: with quorum "all" the outage becomes a partial.
    await registry.replace(checkFixture("web", { intervalMs: 10_000, timeoutMs: 2000, regions: R3, quorum: "all" }));
    expect(cluster.status("web")?.state).toBe("partial");
    await cluster.flush();
    expect(saved.get(outageId)).toMatchObject({ state: "resolved" });

    // A revocation withdraws the agent's votes at once: eu-west has no voter left.
    await enrollments.revoke("agent-eu-west");
    expect(cluster.agent("agent-eu-west")).toBeUndefined();
    expect(cluster.status("web")?.regions["eu-west"]?.agents).toEqual([]);

    // A deletion abandons what is still open: never a recovery.
    const stillOpen = (await Promise.resolve(cluster.localOpenIncidents())).map((o) => o.id);
    expect(stillOpen.length).toBeGreaterThan(0);
    await registry.delete("web");
    await cluster.flush();
    const abandoned = seen
      .filter((t) => t.type === "incident.abandoned")
      .map((t) => ("outage" in t ? t.outage.id : ""));
    expect(abandoned.sort()).toEqual(stillOpen.sort());
    for (const id of stillOpen) expect(saved.get(id)?.state).toBe("abandoned");

    await cluster.stop();
    await leases.stop();
  });
});
