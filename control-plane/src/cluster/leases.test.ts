import { describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import type { NatsConnection } from "@nats-io/transport-node";
import { claimMode, claimOrder, createPartitionLeases, fairShare, fenceVerdict, type LeaseBucket } from "./leases.js";
import type { PartitionLease } from "./types.js";
import { memoryKv, requestTimeout as timeout } from "../testing/memory-kv.js";

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

describe("partition leases through a NATS leader election (issue 12)", () => {
  const log = pino({ level: "silent" });
  const nc = {} as NatsConnection;
  const TTL = 3000;
  /** Lets a few 5 ms rounds run. */
  const someRounds = () => new Promise((r) => setTimeout(r, 40));

  /** A replica on `bucket` whose monotonic clock moves only when the test says so. */
  function replica(bucket: LeaseBucket, replicaId: string, partitions = 1) {
    let t = 0;
    const l = createPartitionLeases({
      nc,
      log,
      replicaId,
      partitions,
      ttlMs: TTL,
      renewMs: 5,
      monotonicNow: () => t,
      kv: bucket,
    });
    const lost: string[] = [];
    l.onLost((lease, reason) => lost.push(`${lease.partition}@${lease.epoch}:${reason}`));
    return { l, lost, advance: (ms: number) => (t += ms) };
  }

  /** Runs `body` with two replicas sharing two partitions, one each, then stops both. */
  async function withTwoOwners(
    body: (s: {
      b: ReturnType<typeof memoryKv>["b"];
      a: ReturnType<typeof replica>;
      c: ReturnType<typeof replica>;
    }) => Promise<void>,
  ): Promise<void> {
    const { b, bucket } = memoryKv();
    const a = replica(bucket, "a", 2);
    const c = replica(bucket, "c", 2);
    await a.l.start();
    await c.l.start();
    try {
      await vi.waitFor(() => expect([a.l.owned().length, c.l.owned().length]).toEqual([1, 1]), { timeout: 5000 });
      await body({ b, a, c });
    } finally {
      b.failing = undefined;
      await a.l.stop();
      await c.l.stop();
    }
  }

  /** Runs `body` with one replica that owns the one partition of a fresh bucket, then stops it. */
  async function withOwner(
    body: (s: {
      b: ReturnType<typeof memoryKv>["b"];
      r: ReturnType<typeof replica>;
      lease: PartitionLease;
    }) => Promise<void>,
  ): Promise<void> {
    const { b, bucket } = memoryKv();
    const r = replica(bucket, "a");
    await r.l.start();
    try {
      await vi.waitFor(() => expect(r.l.owned()).toHaveLength(1));
      await body({ b, r, lease: r.l.owned()[0]! });
    } finally {
      b.failing = undefined;
      await r.l.stop();
    }
  }

  it("keeps a lease whose renewals time out while it is valid by its own clock, and renews it under the same epoch after", async () => {
    await withOwner(async ({ b, r, lease }) => {
      b.failing = timeout;
      await someRounds();
      r.advance(TTL - 500);
      await someRounds();
      expect(r.l.stats().renewFailures).toBeGreaterThan(0);
      expect(r.l.holds(0, lease.epoch)).toBe(true);
      b.failing = undefined;
      const before = b.lastRevision();
      await vi.waitFor(() => expect(b.lastRevision()).toBeGreaterThan(before + 4));
      // The renewals after the election extended the lease: still held well past the first expiry.
      r.advance(TTL - 500);
      expect(r.l.holds(0, lease.epoch)).toBe(true);
      expect(r.l.owned()).toEqual([lease]);
      expect(b.value("partition.0")).toMatchObject({ owner: "a", epoch: lease.epoch });
      expect(r.lost).toEqual([]);
    });
  });

  it("stops acting once its lease has expired by its own clock while the bucket does not answer", async () => {
    await withOwner(async ({ b, r, lease }) => {
      b.failing = timeout;
      await someRounds();
      r.advance(TTL + 1);
      expect(r.l.holds(0, lease.epoch)).toBe(false);
      expect(r.lost).toEqual([`0@${lease.epoch}:expired`]);
      expect(r.l.owned()).toEqual([]);
    });
  });

  it("adopts its own renewal whose reply was lost (a compare-and-set on the key still carrying its epoch is no loss)", async () => {
    await withOwner(async ({ b, r, lease }) => {
      // The watcher does not deliver the landed renewal either: only a read of the key can tell.
      b.stallWatchers();
      b.loseNextReply = true;
      await vi.waitFor(() => expect(b.loseNextReply).toBe(false));
      const after = b.lastRevision();
      await vi.waitFor(() => expect(b.lastRevision()).toBeGreaterThan(after + 4));
      expect(r.l.owned()).toEqual([lease]);
      expect(r.lost).toEqual([]);
      expect(b.value("partition.0")).toMatchObject({ owner: "a", epoch: lease.epoch });
    });
  });

  it("calls a lease taken when its compare-and-set fails on another owner's write, even one its watcher never delivered", async () => {
    await withOwner(async ({ b, r, lease }) => {
      b.stallWatchers();
      b.append("partition.0", "PUT", JSON.stringify({ owner: "b", epoch: 999, since: 1 }));
      await vi.waitFor(() => expect(r.lost).toEqual([`0@${lease.epoch}:taken`]));
      expect(r.l.holds(0)).toBe(false);
      expect(b.value("partition.0")).toMatchObject({ owner: "b" });
    });
  });

  it("after a blackout longer than the ttl, each owner takes its own partition back and nobody grabs the other's", async () => {
    await withTwoOwners(async ({ b, a, c }) => {
      const pa = a.l.owned()[0]!.partition;
      const pc = c.l.owned()[0]!.partition;
      const acquired = a.l.stats().acquired + c.l.stats().acquired;
      const handedOver = () =>
        a.l.stats().lost.taken + c.l.stats().lost.taken + a.l.stats().lost.released + c.l.stats().lost.released;
      const handedOverBefore = handedOver();
      b.failing = () => new Error("no responders");
      await someRounds();
      a.advance(TTL * 3);
      c.advance(TTL * 3);
      await vi.waitFor(() => expect([a.l.owned().length, c.l.owned().length]).toEqual([0, 0]));
      b.failing = undefined;
      await vi.waitFor(() => expect([a.l.owned().length, c.l.owned().length]).toEqual([1, 1]), { timeout: 5000 });
      await someRounds();
      expect(a.l.owned().map((l) => l.partition)).toEqual([pa]);
      expect(c.l.owned().map((l) => l.partition)).toEqual([pc]);
      // One new epoch per partition, no partition changed hands.
      expect(a.l.stats().acquired + c.l.stats().acquired).toBe(acquired + 2);
      expect(handedOver()).toBe(handedOverBefore);
    });
  });

  it("re-opens a watcher that stopped delivering, so a partition released meanwhile is seen free and taken", async () => {
    await withTwoOwners(async ({ b, a, c }) => {
      const pc = c.l.owned()[0]!.partition;
      // a's watcher sits on a dead node: c's release and departure reach the bucket but not a.
      b.stallWatchers();
      await c.l.stop();
      await someRounds();
      expect(a.l.owned()).toHaveLength(1);
      const opened = b.watchesOpened;
      // a's own presence writes do not come back through its watcher within the ttl: it is re-opened.
      a.advance(TTL + 1);
      await vi.waitFor(() => expect(b.watchesOpened).toBeGreaterThan(opened), { timeout: 5000 });
      a.advance(TTL + 1);
      await vi.waitFor(() => expect(a.l.owned().map((l) => l.partition)).toContain(pc), { timeout: 5000 });
      expect(a.l.owned()).toHaveLength(2);
    });
  });
});
