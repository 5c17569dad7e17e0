// The lease lifecycle of status forwarding, without a server: which subjects the owner listens to,
// when it answers, and where a lookup goes. test/hook-fencing.test.ts runs it on a real nats-server.
import type { Msg, MsgCallback, NatsConnection, Subscription } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { CheckStatus } from "../consensus/types.js";
import {
  allStatuses,
  forwardedStatuses,
  localOrForwarded,
  MAX_BULK_STATUS_IDS,
  serveStatus,
  statusSubject,
} from "./status-forwarding.js";
import type { LeaseLossReason, PartitionLease, PartitionLeases } from "./types.js";

const log = pino({ level: "silent" });

/** PartitionLeases whose ownership the test sets by hand. */
function testLeases(initial: PartitionLease[] = []) {
  const owned = new Map(initial.map((l) => [l.partition, l]));
  const acquired = new Set<(l: PartitionLease) => void | Promise<void>>();
  const lost = new Set<(l: PartitionLease, r: LeaseLossReason) => void>();
  let valid = true;
  const leases: PartitionLeases = {
    replicaId: "test",
    partitions: 16,
    start: async () => {},
    stop: async () => {},
    owned: () => [...owned.values()],
    holds: (p, e) => valid && owned.has(p) && (e === undefined || owned.get(p)?.epoch === e),
    view: () => undefined,
    fence: () => "current",
    onAcquired: (cb) => (acquired.add(cb), () => void acquired.delete(cb)),
    onLost: (cb) => (lost.add(cb), () => void lost.delete(cb)),
  };
  return {
    leases,
    async acquire(l: PartitionLease) {
      owned.set(l.partition, l);
      for (const cb of acquired) await cb(l);
    },
    lose(p: number, reason: LeaseLossReason = "taken") {
      const l = owned.get(p);
      owned.delete(p);
      if (l) for (const cb of lost) cb(l, reason);
    },
    /** Past the lease's validity on the local clock, before onLost has fired. */
    expire: () => void (valid = false),
    listeners: () => acquired.size + lost.size,
  };
}

/** Just enough of a NatsConnection for serveStatus: subscriptions by subject, requests delivered by hand. */
function fakeNats() {
  const subs = new Map<string, { cb: MsgCallback<Msg>; closed: boolean }>();
  const nc = {
    subscribe(subject: string, opts: { callback: MsgCallback<Msg> }) {
      const entry = { cb: opts.callback, closed: false };
      subs.set(subject, entry);
      return {
        unsubscribe: () => void ((entry.closed = true), subs.delete(subject)),
        isClosed: () => entry.closed,
      } as unknown as Subscription;
    },
  } as unknown as NatsConnection;
  async function request(subject: string, body: unknown): Promise<unknown> {
    const sub = subs.get(subject);
    if (!sub) throw new Error(`no subscriber on ${subject}`);
    const data = typeof body === "string" ? body : JSON.stringify(body);
    return new Promise((resolve) => {
      const m = {
        subject,
        json: () => JSON.parse(data) as unknown,
        respond: (r: string) => (resolve(JSON.parse(r)), true),
      } as unknown as Msg;
      void sub.cb(null, m);
      // Unanswered requests resolve to "silence" once the handler's promise chain has run.
      setTimeout(() => resolve("silence"), 20);
    });
  }
  return { nc, request, subjects: () => [...subs.keys()].sort() };
}

const status = (checkId: string): CheckStatus => ({
  checkId,
  state: "down",
  reason: "",
  since: 1_700_000_000_000,
  regions: {},
  outage: null,
});

describe("serveStatus (the owner side)", () => {
  it("listens on the partitions it holds, follows acquisitions and losses, and stops", async () => {
    const l = testLeases([{ partition: 2, epoch: 5 }]);
    const n = fakeNats();
    const server = serveStatus({ nc: n.nc, leases: l.leases, status, log });
    expect(n.subjects()).toEqual([statusSubject(2)]);
    await l.acquire({ partition: 9, epoch: 1 });
    expect(server.serving()).toEqual([2, 9]);
    expect(n.subjects()).toEqual(["probemesh.control.status.2", "probemesh.control.status.9"]);
    l.lose(2);
    expect(n.subjects()).toEqual(["probemesh.control.status.9"]);
    server.stop();
    expect(n.subjects()).toEqual([]);
    expect(l.listeners()).toBe(0);
  });

  it('answers {"status"} (null for a check it knows nothing of) while the lease is valid, then stays silent', async () => {
    const l = testLeases([{ partition: 3, epoch: 7 }]);
    const n = fakeNats();
    const server = serveStatus({
      nc: n.nc,
      leases: l.leases,
      status: (id) => (id === "web" ? status(id) : undefined),
      log,
    });
    expect(await n.request("probemesh.control.status.3", { checkId: "web" })).toEqual({ status: status("web") });
    expect(await n.request("probemesh.control.status.3", { checkId: "other" })).toEqual({ status: null });
    expect(await n.request("probemesh.control.status.3", "not json")).toEqual({
      error: 'request must be {"checkId": string} or {"checkIds": string[]} (at most 200)',
    });
    l.expire();
    expect(await n.request("probemesh.control.status.3", { checkId: "web" })).toBe("silence");
    expect(server.stats).toEqual({ answered: 2, notOwner: 1, malformed: 1, failed: 0, paged: 0, oversized: 0 });
  });

  it("a failing lookup is answered with its error", async () => {
    const l = testLeases([{ partition: 0, epoch: 1 }]);
    const n = fakeNats();
    const server = serveStatus({
      nc: n.nc,
      leases: l.leases,
      status: async () => {
        throw new Error("engine gone");
      },
      log,
    });
    expect(await n.request("probemesh.control.status.0", { checkId: "web" })).toEqual({ error: "engine gone" });
    expect(server.stats.failed).toBe(1);
  });
});

describe("localOrForwarded", () => {
  it("reads locally the checks of partitions this replica holds, asks the owner for the others", async () => {
    const l = testLeases([{ partition: 1, epoch: 4 }]);
    const partitionOf = (id: string) => ({ web: 1, api: 2 })[id];
    const forwarded: string[] = [];
    const lookup = localOrForwarded({
      leases: l.leases,
      partitionOf: async (id) => partitionOf(id),
      local: (id) => ({ ...status(id), reason: "local" }),
      forwarded: async (id) => {
        forwarded.push(id);
        return { ...status(id), reason: "forwarded" };
      },
    });
    expect((await lookup("web"))?.reason).toBe("local");
    expect((await lookup("api"))?.reason).toBe("forwarded");
    l.lose(1);
    expect((await lookup("web"))?.reason).toBe("forwarded");
    expect(forwarded).toEqual(["api", "web"]);
    // An unknown check has no partition: nothing to forward.
    expect((await lookup("nope"))?.reason).toBe("local");
  });
});

describe("bulk status (GET /v1/status)", () => {
  it('the owner answers {"checkIds"} with every status at once', async () => {
    const l = testLeases([{ partition: 4, epoch: 1 }]);
    const n = fakeNats();
    serveStatus({ nc: n.nc, leases: l.leases, status: (id) => (id === "web" ? status(id) : undefined), log });
    expect(await n.request("probemesh.control.status.4", { checkIds: ["web", "gone"] })).toEqual({
      statuses: { web: status("web"), gone: null },
    });
    const tooMany = Array.from({ length: 201 }, (_, i) => `c${i}`);
    expect(await n.request("probemesh.control.status.4", { checkIds: tooMany })).toHaveProperty("error");
  });

  it("reads owned partitions locally, asks each other partition once, and lists those whose owner is silent", async () => {
    const l = testLeases([{ partition: 1, epoch: 4 }]);
    const partitionOf = (id: string) => ({ a: 1, b: 2, c: 2, d: 3 })[id];
    const asked: [number, readonly string[]][] = [];
    const got = await allStatuses(["a", "b", "c", "d", "nope"], {
      leases: l.leases,
      partitionOf,
      local: (id) => ({ ...status(id), reason: "local" }),
      forwarded: async (p, ids) => {
        asked.push([p, ids]);
        if (p === 3) throw new Error("timeout");
        return {
          statuses: Object.fromEntries(ids.map((id) => [id, { ...status(id), reason: "forwarded" }])),
          oversized: [],
        };
      },
    });
    expect(asked.sort()).toEqual([
      [2, ["b", "c"]],
      [3, ["d"]],
    ]);
    expect(got.unavailablePartitions).toEqual([3]);
    expect(got.statuses.get("a")?.reason).toBe("local");
    expect(got.statuses.get("c")?.reason).toBe("forwarded");
    expect(got.statuses.has("d")).toBe(false);
    expect(got.statuses.has("nope")).toBe(true);
    expect(got.statuses.get("nope")).toBeUndefined();
  });

  it("a reply larger than max_payload is paged: every check once, an oversized status named apart and counted", async () => {
    const l = testLeases([{ partition: 5, epoch: 1 }]);
    const n = fakeNats();
    // 450 checks (three chunks of at most 200 ids), ~330 bytes each, 4 KB replies: dozens of pages.
    const ids = Array.from({ length: 450 }, (_, i) => `check-${i}`);
    const big = (id: string) => ({ ...status(id), reason: id === "check-7" ? "x".repeat(5000) : "y".repeat(200) });
    const server = serveStatus({ nc: n.nc, leases: l.leases, status: big, log, maxReplyBytes: 4096 });
    const sizes: number[] = [];
    const requests: string[][] = [];
    const nc = {
      request: async (subject: string, data: string) => {
        requests.push((JSON.parse(data) as { checkIds: string[] }).checkIds);
        const reply = await n.request(subject, data);
        sizes.push(JSON.stringify(reply).length);
        return { json: () => reply };
      },
    } as unknown as NatsConnection;
    const got = await forwardedStatuses({ nc })(5, ids);
    expect(Object.keys(got.statuses).sort()).toEqual(ids.filter((id) => id !== "check-7").sort());
    expect(got.statuses["check-449"]).toEqual(big("check-449"));
    expect(got.oversized).toEqual(["check-7"]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    expect(requests.every((r) => r.length <= MAX_BULK_STATUS_IDS)).toBe(true);
    expect(requests.length).toBeGreaterThan(30);
    expect(server.stats).toMatchObject({ oversized: 1, malformed: 0, failed: 0 });
    expect(server.stats.paged).toBe(requests.length - 3);

    // Through allStatuses: the oversized check is reported, not silently unknown.
    const all = await allStatuses(ids, {
      leases: testLeases().leases,
      partitionOf: () => 5,
      local: () => undefined,
      forwarded: forwardedStatuses({ nc }),
    });
    expect(all.statuses.size).toBe(449);
    expect(all.statuses.has("check-7")).toBe(false);
    expect(all.oversized).toEqual(["check-7"]);
    expect(all.unavailablePartitions).toEqual([]);
  });

  it("a single status larger than max_payload is answered with an error (counted), not left to time out", async () => {
    const l = testLeases([{ partition: 6, epoch: 1 }]);
    const n = fakeNats();
    const server = serveStatus({
      nc: n.nc,
      leases: l.leases,
      status: (id) => ({ ...status(id), reason: "x".repeat(5000) }),
      log,
      maxReplyBytes: 4096,
    });
    expect(await n.request(statusSubject(6), { checkId: "web" })).toEqual({
      error: expect.stringContaining("more than NATS max_payload (4096)") as unknown,
    });
    expect(server.stats.oversized).toBe(1);
  });
});
