import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState, partitionOf, resultSubject } from "@probemesh/proto";
import { checkFixture, probeResultFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createStaticLeases } from "../cluster/static-leases.js";
import type { PartitionLease } from "../cluster/types.js";
import { followChecks } from "../ingest/follow-checks.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createConsensusCluster } from "./cluster.js";
import type { IncidentKv } from "./incident-kv.js";
import type { FeedHandlers, OpenFeed } from "./result-feed.js";
import type { Outage, Transition } from "./types.js";

const log = pino({ level: "silent" });
const R3 = ["eu-west", "us-east", "ap-south"];
const P = 4;

describe("consensus cluster", () => {
  it("runs a decider per owned partition, routes checks by uid and hands transitions on with their fence", async () => {
    let clock = 1_000_000;
    let n = 0;
    const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => `uid-${++n}` });
    for (const id of ["a", "b", "c"])
      await registry.create(checkFixture(id, { intervalMs: 10_000, timeoutMs: 2000, regions: R3 }));
    const checks = followChecks(registry);
    const feeds = new Map<number, FeedHandlers>();
    const openFeed: OpenFeed = async (req, handlers) => {
      feeds.set(req.partition, handlers);
      queueMicrotask(() => handlers.caughtUp());
      return { stop: async () => void feeds.delete(req.partition) };
    };
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
});
