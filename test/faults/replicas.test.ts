// Fault suite, two control-plane replicas (issue 12): the replica that owns the check's partition
// (found through the lease bucket `probemesh_leases`, key `partition.<n>`, value {owner, epoch, since};
// owner = PROBEMESH_REPLICA_ID) is killed with SIGKILL, stopped with SIGSTOP for 20 s, and cut from NATS
// in a network namespace, each during a live outage. Besides what every fault case asserts (results
// stored exactly once, each transition announced once, no `outage.resolved` while the target is down,
// recovery announced once), the other replica must take the partition over and decide while the
// owner is gone, and the old owner must not act on its expired lease when it comes back.
//
// Needs the lease work (HA-PLAN.md: leases, decisions on the stream, fencing at delivery): on a
// control plane without it, it fails (no lease is ever written; two replicas judge the same check).
//
// One mesh for the three cases: replica-1 runs in a network namespace (reaching NATS at an address of
// its own that the cut blackholes, ClickHouse and the webhook receiver through relays), replica-0 on
// 127.0.0.1. PROBEMESH_PARTITIONS=1 so that one replica owns every check and the other stands by:
// which one owns the check is then read from the lease, and the cut case can hand the lease to the
// namespaced replica with a graceful restart of the other (stop() releases its leases).
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { writeFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  kill9,
  outageCase,
  partitionOfCheck,
  pause,
  readLease,
  setUpOutageCheck,
  startRelay,
  startSignedReceiver,
  startTrackedTarget,
  waitForDelivery,
  type Relay,
  type SignedReceiver,
  type TrackedTarget,
} from "../harness/faults.js";
import type { ClickHouseServer } from "../harness/clickhouse.js";
import { startMesh, waitFor, type ControlPlane, type Mesh, type ReplicaPlacement } from "../harness/mesh.js";
import type { NatsServer } from "../harness/nats.js";
import { createRegions, netnsUnavailable, type Regions } from "../harness/netns.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const CHECK = "web";
const PARTITIONS = 1;
/** How long the long faults last (issue 12: SIGSTOP for 20 s). */
const FAULT_MS = 20_000;
/** Lease ttl of HA-PLAN.md (3 s) plus a renewal round and scheduling slack: a takeover is due by then. */
const TAKEOVER_MS = 10_000;
const unavailable = netnsUnavailable();
if (unavailable) process.stderr.write(`replica faults: ${unavailable}; the NATS-cut case is skipped\n`);

describe("fault suite, two replicas: the owner of the check's partition fails during a live outage", () => {
  let mesh: Mesh;
  let target: TrackedTarget;
  let receiver: SignedReceiver;
  let nc: NatsConnection;
  let partition = 0;
  let netns: Regions | undefined;
  /** The namespaced replica's own address for NATS (on the root namespace's lo): the cut blackholes it. */
  const natsAddr = `198.19.${(process.pid % 200) + 20}.11`;
  const relays: Relay[] = [];

  beforeAll(async () => {
    target = await startTrackedTarget();
    receiver = await startSignedReceiver(target);
    let hookUrl = receiver.url;
    let placement: ((i: number) => ReplicaPlacement | undefined) | undefined;
    let beforeReplicas: ((servers: { nats: NatsServer; ch: ClickHouseServer }) => Promise<void>) | undefined;
    if (!unavailable) {
      netns = createRegions(["replica-1"]);
      netns.addHostAddress(natsAddr);
      const region = netns.regions[0]!;
      const rootSide = region.address.replace(/\.2$/, ".1");
      const toReceiver = await startRelay(rootSide, { host: "127.0.0.1", port: receiver.receiver.port });
      relays.push(toReceiver);
      hookUrl = `http://${rootSide}:${toReceiver.port}/hook`;
      let natsUrl = "";
      let clickhouseUrl = "";
      beforeReplicas = async ({ nats, ch }) => {
        natsUrl = `nats://${natsAddr}:${nats.port}`;
        const toClickHouse = await startRelay(rootSide, { host: "127.0.0.1", port: ch.httpPort });
        relays.push(toClickHouse);
        clickhouseUrl = `http://${rootSide}:${toClickHouse.port}`;
      };
      placement = (i) => (i === 1 ? { netns: region.netns, host: region.address, natsUrl, clickhouseUrl } : undefined);
    }
    mesh = await startMesh({
      regions: REGIONS,
      replicas: 2,
      secure: false,
      natsHost: "0.0.0.0",
      env: { PROBEMESH_PARTITIONS: String(PARTITIONS) },
      ...(placement ? { replicaPlacement: placement } : {}),
      ...(beforeReplicas ? { beforeReplicas } : {}),
    });
    nc = await connect({ servers: `nats://127.0.0.1:${mesh.nats.port}` });
    const { uid } = await setUpOutageCheck(mesh.cp, { checkId: CHECK, target, receiver, hookUrl });
    partition = partitionOfCheck(uid, PARTITIONS);
    await waitFor("a lease on the check's partition", () => readLease(nc, partition), 30_000, 250).catch(fail("lease"));
  }, 180_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail" && process.env.PROBEMESH_FAULT_DIAG)
      writeFileSync(
        `${process.env.PROBEMESH_FAULT_DIAG}-${ctx.task.name.slice(0, 20).replace(/\W+/g, "_")}.log`,
        mesh.diagnostics(400_000),
      );
  });

  afterAll(async () => {
    await nc?.close();
    await mesh?.dispose();
    await Promise.all(relays.map((r) => r.close()));
    netns?.dispose();
    await receiver?.close();
    target?.close();
  });

  function fail(what: string) {
    return (err: unknown): never => {
      throw new Error(`${what}: ${String(err)}\n${mesh?.diagnostics(2500) ?? ""}`);
    };
  }

  /** Index of the replica owning the check's partition now. */
  async function owner(): Promise<number> {
    const lease = await readLease(nc, partition);
    const i = lease ? mesh.replicaIds.indexOf(lease.owner) : -1;
    if (i < 0) throw new Error(`partition ${partition}: lease ${JSON.stringify(lease)} names no replica of this mesh`);
    return i;
  }

  /** Waits until replica `i` owns the partition; returns the lease's epoch. */
  async function waitOwner(i: number, timeoutMs = TAKEOVER_MS): Promise<number> {
    const lease = await waitFor(
      `${mesh.replicaIds[i]} owning partition ${partition}`,
      async () => {
        const l = await readLease(nc, partition);
        return l?.owner === mesh.replicaIds[i] ? l : undefined;
      },
      timeoutMs,
      100,
    );
    return lease.epoch;
  }

  const outage = outageCase({ mesh: () => mesh, checkId: CHECK, target: () => target, receiver: () => receiver });
  const openOutage = (api: ControlPlane) => outage.open(api);
  const resolveOutage = () => outage.resolve();
  const expectIntact = (caseStart: number, faultEnd: number) => outage.expectIntact(caseStart, faultEnd);

  /**
   * While the owner is out (`during` the fault): the other replica takes the partition over, then
   * the target recovers and fails again, and both transitions must be announced before the fault
   * ends; the old owner comes back to a target that is down, so anything stale it sends shows.
   */
  async function whileOwnerIsOut(survivor: number, until: number) {
    const tookOver = await waitOwner(survivor, Math.max(0, until - Date.now() - 4000)).then(
      () => true,
      () => false,
    );
    const upAt = Date.now();
    target.up();
    const resolved = await waitForDelivery(receiver, {
      checkId: CHECK,
      type: "outage.resolved",
      since: upAt,
      timeoutMs: Math.max(0, (until - Date.now()) / 2),
    }).then(
      () => true,
      () => false,
    );
    const downAt = Date.now();
    target.down();
    const reopened = await waitForDelivery(receiver, {
      checkId: CHECK,
      type: "outage.opened",
      since: downAt,
      timeoutMs: Math.max(0, until - Date.now()),
    }).then(
      () => true,
      () => false,
    );
    return { tookOver, resolved, reopened };
  }

  it("kill -9 of the owner: the other replica takes over and no recovery is announced while the target is down", async () => {
    const first = await owner();
    const survivor = 1 - first;
    const caseStart = await openOutage(mesh.replicas[survivor]!);
    await kill9(mesh.replicas[first]!.proc);
    const killedAt = Date.now();
    await waitOwner(survivor).catch(fail("takeover after kill -9"));
    // A few more intervals with the target down: the new owner's warm-up must not resolve the open outage.
    await new Promise((r) => setTimeout(r, 3000));
    await resolveOutage();
    await expectIntact(caseStart, killedAt);
    await mesh.restartReplica(first);
  }, 120_000);

  it("SIGSTOP of the owner for 20 s: the other replica decides meanwhile; the woken owner does not act on its expired lease", async () => {
    const first = await owner();
    const survivor = 1 - first;
    const caseStart = await openOutage(mesh.replicas[survivor]!);
    let seen = { tookOver: false, resolved: false, reopened: false };
    const until = Date.now() + FAULT_MS;
    await pause(mesh.replicas[first]!.proc.child.pid!, FAULT_MS, async () => {
      seen = await whileOwnerIsOut(survivor, until);
    });
    const faultEnd = Date.now();
    // The woken replica finds its lease expired; give it time to (wrongly) act before the recovery.
    await new Promise((r) => setTimeout(r, 4000));
    await resolveOutage();
    expect
      .soft(seen, "the survivor took over and announced both transitions while the owner was stopped")
      .toEqual({ tookOver: true, resolved: true, reopened: true });
    await expectIntact(caseStart, faultEnd);
  }, 120_000);

  it.skipIf(unavailable)(
    "the owner cut from NATS (network namespace): the other replica takes over; on reconnect its stale events are refused",
    async () => {
      // The namespaced replica (1) must own the partition: a graceful restart of replica 0 hands it over.
      if ((await owner()) !== 1) {
        await mesh.restartReplica(0);
        await waitOwner(1).catch(fail("handover to the namespaced replica"));
      }
      const caseStart = await openOutage(mesh.replicas[0]!);
      const region = netns!.regions[0]!;
      region.cut(natsAddr);
      const until = Date.now() + FAULT_MS;
      let seen = { tookOver: false, resolved: false, reopened: false };
      try {
        seen = await whileOwnerIsOut(0, until);
        const rest = until - Date.now();
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      } finally {
        region.restore(natsAddr);
      }
      const faultEnd = Date.now();
      // The reconnected replica flushes whatever it buffered while cut; fencing must refuse it.
      await new Promise((r) => setTimeout(r, 5000));
      await resolveOutage();
      expect
        .soft(seen, "the survivor took over and announced both transitions while the owner was cut off")
        .toEqual({ tookOver: true, resolved: true, reopened: true });
      await expectIntact(caseStart, faultEnd);
    },
    120_000,
  );
});
