// Partition leases on a real nats-server: one replica takes every partition, a second one joins and
// they split fairly without a partition ever held twice, a killed replica's partitions are taken over
// after its leases expire, a frozen replica stops holding before it could renew, a graceful stop hands
// over at once, and the fence refuses what an old epoch published after the new one began.
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createPartitionLeases, type LeaseLossReason, type PartitionLease } from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNats, startProcess, waitFor, type Managed, type NatsServer } from "./harness/index.js";

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const P = 16;
const TTL = 3000;
/**
 * Rounds every 500 ms rather than the default 1000: a replica gives up one lease per round on its
 * way to a fair share, so each split converges in half the time; the ttl (and so every expiry wait)
 * stays the default, with six renewals per ttl instead of three.
 */
const RENEW = 500;
const HOLDER = join(import.meta.dirname, "fixtures", "lease-holder.ts");
const ROOT = join(import.meta.dirname, "..");

interface Replica {
  id: string;
  nc: NatsConnection;
  leases: ReturnType<typeof createPartitionLeases>;
  events: { kind: "acquired" | "lost"; lease: PartitionLease; reason?: LeaseLossReason; at: number }[];
  /** Added to the replica's monotonic clock: jumping it forward is a frozen process waking up. */
  skew: { ms: number };
}

describe("partition leases on NATS KV", () => {
  let nats: NatsServer;
  let bucketSeq = 0;
  let bucket = "";
  const replicas: Replica[] = [];

  async function replica(id: string): Promise<Replica> {
    const nc = await connect({ servers: nats.url });
    const skew = { ms: 0 };
    const leases = createPartitionLeases({
      nc,
      replicaId: id,
      partitions: P,
      log,
      bucket,
      ttlMs: TTL,
      renewMs: RENEW,
      monotonicNow: () => performance.now() + skew.ms,
    });
    const r: Replica = { id, nc, leases, events: [], skew };
    leases.onAcquired((lease) => void r.events.push({ kind: "acquired", lease, at: performance.now() }));
    leases.onLost((lease, reason) => void r.events.push({ kind: "lost", lease, reason, at: performance.now() }));
    replicas.push(r);
    await leases.start();
    return r;
  }

  /** Samples every replica's holds() until stopped, collecting any partition held by two at once. */
  function watchExclusive(rs: readonly Replica[] = replicas): {
    stop(): Promise<{ samples: number; doubles: string[] }>;
  } {
    let running = true;
    let samples = 0;
    const doubles: string[] = [];
    const done = (async () => {
      while (running) {
        for (let p = 0; p < P; p++) {
          const holders = rs.filter((r) => r.leases.holds(p)).map((r) => r.id);
          if (holders.length > 1) doubles.push(`partition ${p}: ${holders.join(", ")}`);
        }
        samples++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    return {
      async stop() {
        running = false;
        await done;
        return { samples, doubles };
      },
    };
  }

  const holding = (r: Replica) => r.leases.owned().filter((l) => r.leases.holds(l.partition, l.epoch));

  beforeAll(async () => {
    nats = await startNats();
  });
  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.leases.stop().catch(() => {});
      await r.nc.close().catch(() => {});
    }
    bucket = `leases_${++bucketSeq}`;
  });
  afterAll(async () => {
    await nats?.dispose();
  });
  bucket = `leases_${++bucketSeq}`;

  it("one replica takes every partition; a second joins and they converge to a fair split, never both holding one", async () => {
    const a = await replica("a");
    await waitFor("a holds every partition", () => holding(a).length === P, 15_000);
    expect(a.events.filter((e) => e.kind === "acquired")).toHaveLength(P);
    expect(a.leases.view(0)).toMatchObject({ partition: 0, owner: "a" });

    // Samples the live list of replicas, so b counts from its first claim on.
    const sampler = watchExclusive();
    const t0 = performance.now();
    const b = await replica("b");
    await waitFor("a fair split", () => holding(a).length === P / 2 && holding(b).length === P / 2, 30_000);
    console.log(`fair split reached ${Math.round(performance.now() - t0)} ms after the second replica started`);
    // Held for a few more rounds: stable, and still never doubled.
    await new Promise((r) => setTimeout(r, 4 * RENEW));
    const { samples, doubles } = await sampler.stop();
    expect(doubles).toEqual([]);
    expect(samples).toBeGreaterThan(100);
    expect(holding(a).length + holding(b).length).toBe(P);
    const all = [...holding(a), ...holding(b)].map((l) => l.partition).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: P }, (_, i) => i));
    expect(a.leases.stats().lost.released).toBe(P / 2);
    expect(a.events.filter((e) => e.kind === "lost").every((e) => e.reason === "released")).toBe(true);
  });

  it("a killed replica's partitions (connection gone, no stop) are taken over once its leases expire", async () => {
    const a = await replica("a");
    await waitFor("a holds every partition", () => holding(a).length === P, 15_000);
    const b = await replica("b");
    await waitFor("a fair split", () => holding(a).length === P / 2 && holding(b).length === P / 2, 30_000);
    const aParts = holding(a).map((l) => l.partition);
    const sampler = watchExclusive([a, b]);

    const eventsBefore = a.events.length;
    const killedAt = performance.now();
    await a.nc.close(); // kill -9 as NATS sees it: no release, no presence delete
    await waitFor("b holds every partition", () => holding(b).length === P, 15_000, 20);
    const takeover = performance.now() - killedAt;
    console.log(
      `kill → takeover of ${aParts.length} partitions: ${Math.round(takeover)} ms (ttl ${TTL}, renew ${RENEW})`,
    );
    const { doubles } = await sampler.stop();
    expect(doubles).toEqual([]);
    expect(takeover).toBeLessThan(15_000);
    // The dead replica itself stopped holding when its validity ran out, on its own clock.
    expect(holding(a)).toEqual([]);
    await waitFor("a's onLost callbacks", () => a.events.length - eventsBefore >= aParts.length, 5_000);
    expect(
      a.events
        .slice(eventsBefore)
        .map((e) => `${e.kind}:${e.lease.partition}:${e.reason}`)
        .sort(),
    ).toEqual(aParts.map((p) => `lost:${p}:expired`).sort());
    for (const p of aParts) expect(b.leases.view(p)).toMatchObject({ owner: "b" });
  });

  it("a frozen replica reports holds() false before it renews again, then claims afresh under a new epoch that fences the old one", async () => {
    const a = await replica("a");
    // onAcquired runs apart from the claims: wait for every callback before the freeze.
    await waitFor(
      "a holds every partition, callbacks run",
      () => holding(a).length === P && a.events.length === P,
      15_000,
    );
    const old = a.leases.owned().find((l) => l.partition === 0);
    expect(old).toBeDefined();
    const oldEpoch = old!.epoch;
    const lostBefore = a.events.length;

    // Woken after a freeze longer than the ttl: the very first check fails, and reports the loss synchronously.
    a.skew.ms += TTL + 1;
    expect(a.leases.holds(0)).toBe(false);
    expect(a.events.slice(lostBefore)[0]).toMatchObject({ kind: "lost", lease: { partition: 0 }, reason: "expired" });
    for (let p = 0; p < P; p++) expect(a.leases.holds(p)).toBe(false);
    expect(a.leases.stats().lost.expired).toBe(P);

    // Nobody else took them: its own leftovers come back at once, each under a new epoch.
    await waitFor("a holds every partition again", () => holding(a).length === P, 15_000);
    const renewed = a.leases.owned().find((l) => l.partition === 0)!;
    expect(renewed.epoch).toBeGreaterThan(oldEpoch);
    expect(a.leases.holds(0, oldEpoch)).toBe(false);
    const view = a.leases.view(0)!;
    expect(view).toMatchObject({ owner: "a", epoch: renewed.epoch });
    expect(a.leases.fence(0, oldEpoch, view.since)).toBe("stale");
    expect(a.leases.fence(0, oldEpoch, view.since + 5_000)).toBe("stale");
    expect(a.leases.fence(0, oldEpoch, view.since - 1)).toBe("current");
    expect(a.leases.fence(0, renewed.epoch, view.since + 5_000)).toBe("current");
  });

  it("a graceful stop() hands the partitions over at once", async () => {
    const a = await replica("a");
    await waitFor("a holds every partition", () => holding(a).length === P, 15_000);
    const b = await replica("b");
    await waitFor("a fair split", () => holding(a).length === P / 2 && holding(b).length === P / 2, 30_000);
    const bParts = holding(b).map((l) => l.partition);
    const bEpochs = new Map(holding(b).map((l) => [l.partition, l.epoch]));
    const sampler = watchExclusive([a, b]);

    const stoppedAt = performance.now();
    await b.leases.stop();
    expect(b.leases.owned()).toEqual([]);
    expect(b.events.filter((e) => e.kind === "lost" && e.reason === "stopped")).toHaveLength(P / 2);
    await waitFor("a holds every partition", () => holding(a).length === P, 15_000, 20);
    const handover = performance.now() - stoppedAt;
    console.log(`graceful stop → takeover of ${bParts.length} partitions: ${Math.round(handover)} ms`);
    const { doubles } = await sampler.stop();
    expect(doubles).toEqual([]);
    expect(handover).toBeLessThan(15_000);

    // What b published under its epoch after a's epoch began is stale; before it, current.
    for (const p of bParts) {
      const view = a.leases.view(p)!;
      const bEpoch = bEpochs.get(p)!;
      expect(view.owner).toBe("a");
      expect(view.epoch).toBeGreaterThan(bEpoch);
      expect(a.leases.fence(p, bEpoch, view.since + 1)).toBe("stale");
      expect(a.leases.fence(p, bEpoch, view.since - 1)).toBe("current");
      expect(a.leases.fence(p, view.epoch, view.since + 1)).toBe("current");
    }
  });

  it("a slow onAcquired warm-up does not hold up renewals", async () => {
    const nc = await connect({ servers: nats.url });
    const leases = createPartitionLeases({
      nc,
      replicaId: "slow",
      partitions: 4,
      log,
      bucket,
      ttlMs: TTL,
      renewMs: RENEW,
    });
    const r: Replica = { id: "slow", nc, leases, events: [], skew: { ms: 0 } };
    replicas.push(r);
    const warmed: number[] = [];
    leases.onAcquired(async (l) => {
      await new Promise((res) => setTimeout(res, TTL + 1000)); // longer than a lease lives unrenewed
      warmed.push(l.partition);
    });
    await leases.start();
    await waitFor("two warm-ups done", () => warmed.length >= 2, 30_000);
    expect(leases.owned()).toHaveLength(4);
    for (const l of leases.owned()) expect(leases.holds(l.partition, l.epoch)).toBe(true);
    expect(leases.stats().lost).toEqual({ expired: 0, taken: 0, released: 0, stopped: 0 });
  });

  it("a real process frozen with SIGSTOP past its ttl wakes up losing its leases, never acting on them", async () => {
    const child: Managed = startProcess("lease-holder", process.execPath, ["--import", "tsx", HOLDER], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: nats.url, REPLICA_ID: "frozen", PARTITIONS: String(P), BUCKET: bucket },
    });
    try {
      const acquired = () => [...child.output().matchAll(/^acquired (\d+) (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
      await waitFor(
        "the child holds every partition and acts",
        () => {
          if (child.exited()) throw new Error(`lease holder exited:\n${child.output()}`);
          return acquired().length === P && /^act /m.test(child.output());
        },
        30_000,
      );
      const held = acquired();
      const b = await replica("b");

      child.child.kill("SIGSTOP");
      const stoppedAt = performance.now();
      await new Promise((r) => setTimeout(r, 200)); // let the pipe drain what was written before the freeze
      await waitFor("b takes over the frozen child's partitions", () => holding(b).length === P, 15_000, 20);
      console.log(`SIGSTOP → takeover of ${P} partitions: ${Math.round(performance.now() - stoppedAt)} ms`);
      await new Promise((r) => setTimeout(r, Math.max(0, 2 * TTL - (performance.now() - stoppedAt))));
      const mark = child.output().length;
      child.child.kill("SIGCONT");
      await waitFor(
        "the child reports every old lease lost",
        () => held.every((l) => new RegExp(`^lost ${l} \\w+$`, "m").test(child.output().slice(mark))),
        10_000,
      );
      await new Promise((r) => setTimeout(r, 500));
      const after = child.output().slice(mark);
      const actedOnOld = held.filter((l) => new RegExp(`^act ${l}$`, "m").test(after));
      expect(actedOnOld).toEqual([]);
      console.log(
        `after SIGCONT: ${after.split("\n").filter((l) => l.startsWith("lost")).length} lost lines, reasons ${[
          ...new Set([...after.matchAll(/^lost \d+ \d+ (\w+)$/gm)].map((m) => m[1])),
        ].join(",")}`,
      );
    } finally {
      await child.stop();
    }
  });
});
