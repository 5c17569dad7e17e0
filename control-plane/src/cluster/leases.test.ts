import { describe, expect, it } from "vitest";
import { pino } from "pino";
import type { NatsConnection } from "@nats-io/transport-node";
import { claimMode, claimOrder, createPartitionLeases, fairShare, fenceVerdict } from "./leases.js";

describe("fairShare", () => {
  it("is ceil(P / alive), never below the whole for a lone replica", () => {
    expect(fairShare(16, 1)).toBe(16);
    expect(fairShare(16, 2)).toBe(8);
    expect(fairShare(16, 3)).toBe(6);
    expect(fairShare(1, 3)).toBe(1);
    expect(fairShare(16, 0)).toBe(16);
  });

  it("lets the replicas cover every partition", () => {
    for (let p = 1; p <= 64; p++) for (let n = 1; n <= 8; n++) expect(fairShare(p, n) * n).toBeGreaterThanOrEqual(p);
  });
});

describe("fenceVerdict", () => {
  const starts = [
    { epoch: 10, since: 1_000 },
    { epoch: 20, since: 2_000 },
    { epoch: 30, since: 3_000 },
  ];

  it("calls stale what an older epoch published once a later epoch had begun", () => {
    expect(fenceVerdict(starts, 10, 2_000)).toBe("stale");
    expect(fenceVerdict(starts, 10, 2_500)).toBe("stale");
    // Between epochs 20 and 30: 20 had begun, so 10 was already fenced off even though 30 had not.
    expect(fenceVerdict(starts, 20, 3_000)).toBe("stale");
  });

  it("calls current what was published before any later epoch began, or under the latest epoch", () => {
    expect(fenceVerdict(starts, 10, 1_999)).toBe("current");
    expect(fenceVerdict(starts, 30, 10_000)).toBe("current");
    expect(fenceVerdict(starts, 99, 10_000)).toBe("current");
    expect(fenceVerdict([], 1, 10_000)).toBe("current");
  });
});

describe("claimMode", () => {
  const ttl = 3000;

  it("creates free keys at once", () => {
    expect(claimMode(undefined, undefined, 0, ttl)).toBe("create");
    expect(claimMode({ revision: 5, deleted: true, seenAt: 100 }, undefined, 100, ttl)).toBe("create");
  });

  it("takes another owner's lease only after its revision stood still for ttl on the local clock", () => {
    const w = { revision: 5, deleted: false, seenAt: 1_000 };
    expect(claimMode(w, undefined, 1_000 + ttl - 1, ttl)).toBe(false);
    expect(claimMode(w, 4, 1_000 + ttl - 1, ttl)).toBe(false);
    expect(claimMode(w, undefined, 1_000 + ttl, ttl)).toBe("update");
  });

  it("takes back a key still at the revision this process wrote at once (no one else can hold it)", () => {
    expect(claimMode({ revision: 5, deleted: false, seenAt: 1_000 }, 5, 1_000, ttl)).toBe("update");
  });
});

describe("claimOrder", () => {
  it("tries free partitions, then own leftovers, then expired ones, skipping the rest", () => {
    const modes = ["update", "create", false, "update", "create"] as const;
    const order = claimOrder(
      5,
      "replica-x",
      (p) => modes[p] ?? false,
      (p) => p === 3,
    );
    expect(order.slice(0, 2).map((c) => c.mode)).toEqual(["create", "create"]);
    expect(new Set(order.slice(0, 2).map((c) => c.partition))).toEqual(new Set([1, 4]));
    expect(order.slice(2)).toEqual([
      { partition: 3, mode: "update" },
      { partition: 0, mode: "update" },
    ]);
  });

  it("starts at different partitions for different replicas", () => {
    const firsts = new Set(
      ["r1", "r2", "r3", "r4", "r5", "r6"].map(
        (id) =>
          claimOrder(
            16,
            id,
            () => "create",
            () => false,
          )[0]?.partition,
      ),
    );
    expect(firsts.size).toBeGreaterThan(1);
  });
});

describe("createPartitionLeases options", () => {
  const nc = {} as NatsConnection;
  const log = pino({ level: "silent" });

  it("refuses a replica id that is not one KV key token, and a partition count out of range", () => {
    expect(() => createPartitionLeases({ nc, log, replicaId: "a.b", partitions: 16 })).toThrow(/replica id/);
    expect(() => createPartitionLeases({ nc, log, replicaId: "a", partitions: 0 })).toThrow(/partitions/);
    expect(() => createPartitionLeases({ nc, log, replicaId: "host-1234", partitions: 16 })).not.toThrow();
  });

  it("holds nothing and fences nothing before it started", () => {
    const l = createPartitionLeases({ nc, log, replicaId: "a", partitions: 4 });
    expect(l.owned()).toEqual([]);
    expect(l.holds(0)).toBe(false);
    expect(l.view(0)).toBeUndefined();
    expect(l.fence(0, 1, Date.now())).toBe("current");
    expect(l.stats().owned).toBe(0);
  });
});
