// A replica's share of impairment marks: marks of partitions decided elsewhere (another replica) make
// the agent abstain in this replica's engines and show in its agent health.
import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState, partitionOf, resultSubject } from "@probemesh/proto";
import { checkFixture, probeResultFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { PartitionLeases } from "../cluster/types.js";
import { createStaticLeases } from "../testing/static-leases.js";
import { followChecks } from "../ingest/follow-checks.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createConsensusCluster } from "./cluster.js";
import { markKey, type ImpairmentMarks } from "./impairment-marks.js";
import type { FeedHandlers, OpenFeed } from "./result-feed.js";

const log = pino({ level: "silent" });
const R3 = ["eu-west", "us-east", "ap-south"];
const P = 4;

/** Static leases of only `mine` (the other partitions are another replica's). */
function someLeases(mine: Set<number>): PartitionLeases {
  const base = createStaticLeases({ partitions: P });
  return {
    ...base,
    owned: () => base.owned().filter((l) => mine.has(l.partition)),
    holds: (p, e) => mine.has(p) && base.holds(p, e),
    onAcquired: (cb) => base.onAcquired((l) => (mine.has(l.partition) ? cb(l) : undefined)),
  };
}

describe("consensus cluster: impairment marks", () => {
  it("a mark of a partition decided elsewhere makes the agent abstain here, and its deletion ends it", async () => {
    let clock = 1_000_000;
    const registry = createMemoryRegistry({ log, now: () => 0, newUid: () => "uid-web" });
    await registry.create(checkFixture("web", { intervalMs: 10_000, timeoutMs: 2000, regions: R3 }));
    const checks = followChecks(registry);
    const feeds = new Map<number, FeedHandlers>();
    const openFeed: OpenFeed = async (req, handlers) => {
      feeds.set(req.partition, handlers);
      queueMicrotask(() => handlers.caughtUp());
      return { stop: async () => void feeds.delete(req.partition) };
    };
    let deliver: (key: string, value: string | undefined) => void = () => undefined;
    const marks: ImpairmentMarks = {
      put: async () => undefined,
      delete: async () => undefined,
      list: async () => new Map(),
      follow: (onEntry) => ((deliver = onEntry), { stop: async () => undefined }),
    };
    const pw = partitionOf("uid-web", P);
    // The canary's partition is decided by another replica.
    const elsewhere = (pw + 1) % P;
    const mine = someLeases(new Set([pw]));
    const replica = createConsensusCluster({
      leases: mine,
      registry,
      checks,
      openFeed,
      incidents: { put: async () => {}, delete: async () => {}, list: async () => [], listAll: async () => [] },
      marks,
      outageStore: { saveOutages: async () => undefined },
      log,
      now: () => clock,
      remoteEveryMs: 60_000,
    });
    await replica.start();
    await mine.start();
    const round = (euState: ProbeState) => {
      R3.forEach((region, i) => {
        const state = region === "eu-west" ? euState : ProbeState.UP;
        const r = probeResultFixture({
          id: `web-${region}-${clock}`,
          checkId: "web",
          agentId: `agent-${region}`,
          region,
          startedAtMs: BigInt(clock + i),
          state,
          reason: state === ProbeState.DOWN ? "dns" : "",
        });
        feeds
          .get(pw)!
          .message({ subject: resultSubject(region, `agent-${region}`, pw), data: toBinary(ProbeResultSchema, r) });
      });
      clock += 10_000;
    };
    round(ProbeState.UP);
    deliver(markKey("agent-eu-west", elsewhere), JSON.stringify({ reason: 'canary check "dns" failing', since: 7 }));
    deliver(markKey("agent-eu-west", pw), "not json"); // ignored, counted
    for (let k = 0; k < 4; k++) round(ProbeState.DOWN);
    expect(replica.status("web")?.state).toBe("up");
    expect(replica.status("web")?.regions["eu-west"]).toMatchObject({
      impaired: true,
      impairedReason: `agent agent-eu-west impaired: impaired in partition ${elsewhere}: canary check "dns" failing`,
    });
    expect(replica.agent("agent-eu-west")).toMatchObject({
      impaired: true,
      reason: `impaired in partition ${elsewhere}: canary check "dns" failing`,
      since: 7,
    });
    // An agent no engine here has seen is known from its mark alone.
    deliver(markKey("agent-far", elsewhere), JSON.stringify({ reason: "canary", since: 9, region: "sa-east" }));
    expect(replica.agent("agent-far")).toMatchObject({ region: "sa-east", impaired: true, since: 9 });
    expect(replica.agents().map((a) => a.agentId)).toContain("agent-far");
    deliver(markKey("agent-far", elsewhere), undefined);
    expect(replica.agent("agent-far")).toBeUndefined();
    expect(replica.stats().impairmentMarks).toEqual({ marks: 1, malformed: 1 });

    deliver(markKey("agent-eu-west", elsewhere), undefined);
    expect(replica.agent("agent-eu-west")).toMatchObject({ impaired: false });
    // Failures seen while marked do not vote: fresh ones are needed.
    expect(replica.status("web")?.regions["eu-west"]?.state).not.toBe("down");
    for (let k = 0; k < 3; k++) round(ProbeState.DOWN);
    expect(replica.status("web")?.regions["eu-west"]?.state).toBe("down");
    await replica.stop();
    await mine.stop();
  });
});
