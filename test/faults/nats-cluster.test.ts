// Fault suite, NATS as a 3-node cluster (issue 12: "kill -9 of one node of the 3-node cluster"),
// during a live outage: operator-mode TLS cluster (`init --nats-cluster 3`), every stream and KV
// bucket with 3 replicas (PROBEMESH_JETSTREAM_REPLICAS=3), two control-plane replicas, three agents,
// 1 s checks and a signed-webhook receiver. The node killed is the one that matters most: the one
// leading the most of the streams the failover path runs on (results, hook deliveries, incidents and
// leases KV), read from JetStream's stream info. While it is dead the target recovers, and the
// recovery must be decided and announced by the two surviving nodes; then the node is restarted.
// Asserts what every fault case asserts (outageCase in test/harness/faults.ts): results stored
// exactly once within 30 s of the fault's end (per-agent seq contiguous, no id twice), each
// transition announced once, no `outage.resolved` while the target is down, recovery announced once.
// It prints how the partition leases came through the elections: owners and epochs before the kill
// and once settled (no lease key written by a new epoch for LEASES_SETTLED_MS), and how long that took.
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeFileSync } from "node:fs";
import { RESULTS_STREAM } from "@probemesh/proto";
import { afterAll, afterEach, beforeAll, describe, it } from "vitest";
import {
  outageCase,
  setUpOutageCheck,
  startSignedReceiver,
  startTrackedTarget,
  waitForDelivery,
  type SignedReceiver,
  type TrackedTarget,
} from "../harness/faults.js";
import { startMesh, type Mesh } from "../harness/mesh.js";
import type { NatsClusterNode, SecureNatsCluster } from "../harness/nats.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const CHECK = "web";
/**
 * The streams a decision and its announcement go through (results → owner → incident KV → hook queue).
 * Not `KV_probemesh_impairment`: it exists here (every replica follows it), but the target fails for
 * every agent alike, so no agent should be judged impaired nor any mark written, and a decider reads the
 * marks only in a background reconciliation it retries without waiting on it: counted as a leader, it
 * could only steer the kill away from these.
 */
const CRITICAL_STREAMS = [RESULTS_STREAM, "PROBEMESH_HOOK_DELIVERIES", "KV_probemesh_incidents", "KV_probemesh_leases"];
/** How long the target stays down after the kill before it recovers (leader elections happen meanwhile). */
const DOWN_AFTER_KILL_MS = 5000;
/** A recovery decided and announced with a node dead: elections plus every client's reconnect (up to ~40 s seen on 2 loaded cores). */
const RECOVERY_MS = 60_000;
/** The partition leases count as settled once no partition got a new epoch for this long. */
const LEASES_SETTLED_MS = 5000;
/** Partitions of the mesh (startMesh leaves PROBEMESH_PARTITIONS at its default). */
const PARTITIONS = 16;

/** Owner and epoch of each partition's lease, read from the leases bucket. */
type LeaseTable = Map<number, string>;

describe("fault suite, NATS cluster: kill -9 of a node during a live outage", () => {
  let mesh: Mesh;
  let cluster: SecureNatsCluster;
  let target: TrackedTarget;
  let receiver: SignedReceiver;
  const natsLogs = () =>
    cluster?.nodes.map((n) => `--- ${n.serverName} ---\n${n.proc.output().slice(-1500)}`).join("\n") ?? "";
  const outage = outageCase({
    mesh: () => mesh,
    checkId: CHECK,
    target: () => target,
    receiver: () => receiver,
    diagnostics: natsLogs,
  });

  beforeAll(async () => {
    target = await startTrackedTarget();
    receiver = await startSignedReceiver(target);
    mesh = await startMesh({ regions: REGIONS, natsNodes: 3, jetstreamReplicas: 3, replicas: 2 });
    if (!mesh.natsCluster) throw new Error("startMesh did not start a cluster");
    cluster = mesh.natsCluster;
    await setUpOutageCheck(mesh.cp, { checkId: CHECK, target, receiver });
  }, 240_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail" && process.env.PROBEMESH_FAULT_DIAG)
      writeFileSync(
        `${process.env.PROBEMESH_FAULT_DIAG}-nats-cluster.log`,
        `${mesh.diagnostics(400_000)}\n${cluster.nodes.map((n) => `--- ${n.serverName} ---\n${n.proc.output()}`).join("\n")}`,
      );
  });

  afterAll(async () => {
    await mesh?.dispose();
    await receiver?.close();
    target?.close();
  });

  /** The node leading the most critical streams (ties: the results stream's leader), and what it leads. */
  async function busiestLeader(): Promise<{ node: NatsClusterNode; leads: string[] }> {
    const nc = await cluster.connect();
    try {
      const jsm = await jetstreamManager(nc);
      const leaders = new Map<string, string[]>();
      for (const name of CRITICAL_STREAMS) {
        const leader = (await jsm.streams.info(name)).cluster?.leader;
        if (leader) leaders.set(leader, [...(leaders.get(leader) ?? []), name]);
      }
      const [name, leads] = [...leaders].sort(
        ([, a], [, b]) =>
          b.length - a.length || Number(b.includes(RESULTS_STREAM)) - Number(a.includes(RESULTS_STREAM)),
      )[0]!;
      return { node: cluster.node(name), leads };
    } finally {
      await nc.close();
    }
  }

  /** Each partition's `owner@epoch` now, read on `nc`; a read that fails (an election) leaves it out. */
  async function leaseTable(nc: NatsConnection): Promise<LeaseTable> {
    const table: LeaseTable = new Map();
    try {
      const kv = await new Kvm(nc).open("probemesh_leases");
      for (let p = 0; p < PARTITIONS; p++) {
        const e = await kv.get(`partition.${p}`).catch(() => null);
        if (e?.operation !== "PUT") continue;
        const v = e.json<{ owner: string; epoch?: number }>();
        table.set(p, `${v.owner}@${v.epoch ?? e.revision}`);
      }
    } catch {
      // The bucket is not readable right now: a partial table, read again later.
    }
    return table;
  }

  /**
   * Reads the lease table every 500 ms from `since` until every partition has a lease and none got a
   * new epoch for LEASES_SETTLED_MS (or `stop` aborts).
   */
  async function watchLeases(
    nc: NatsConnection,
    since: number,
    stop: AbortSignal,
  ): Promise<{ table: LeaseTable; settledMs: number; changes: number }> {
    let table = await leaseTable(nc);
    let changedAt = Date.now();
    let changes = 0;
    while (!stop.aborted && Date.now() - changedAt < LEASES_SETTLED_MS) {
      await new Promise((r) => setTimeout(r, 500));
      const next = await leaseTable(nc);
      const changed = [...next].filter(([p, v]) => table.get(p) !== v).length;
      if (changed > 0 || next.size < PARTITIONS) changedAt = Date.now();
      changes += changed;
      if (next.size >= table.size) table = next;
    }
    return { table, settledMs: changedAt - since, changes };
  }

  const describeTable = (t: LeaseTable) =>
    [...t]
      .sort(([a], [b]) => a - b)
      .map(([p, v]) => `${p}:${v}`)
      .join(" ");

  it("kill -9 of the node leading the most of the results, hook and decision streams: recovery decided by the survivors, announced once", async () => {
    const caseStart = await outage.open();
    const { node, leads } = await busiestLeader().catch(outage.fail("stream leaders"));
    const watcher = await cluster.connect();
    const leasesBefore = await leaseTable(watcher);
    const stopWatching = new AbortController();
    const killedAt = Date.now();
    await node.kill();
    const leasesAfter = watchLeases(watcher, killedAt, stopWatching.signal);
    await new Promise((r) => setTimeout(r, DOWN_AFTER_KILL_MS));
    const upAt = Date.now();
    target.up();
    const resolvedWhileDead = await waitForDelivery(receiver, {
      checkId: CHECK,
      type: "outage.resolved",
      since: upAt,
      timeoutMs: RECOVERY_MS,
    }).then(
      (d) => d.at - upAt,
      () => undefined,
    );
    await node.restart();
    const faultEnd = Date.now();
    if (resolvedWhileDead === undefined)
      await waitForDelivery(receiver, { checkId: CHECK, type: "outage.resolved", since: upAt }).catch(
        outage.fail("outage.resolved after the node's restart"),
      );
    console.log(
      `[faults/nats-cluster] killed ${node.serverName} (leading ${leads.join(", ")}); outage.resolved ` +
        (resolvedWhileDead === undefined
          ? "not while it was dead"
          : `${(resolvedWhileDead / 1000).toFixed(1)} s after the target came back`),
    );
    stopWatching.abort();
    const settled = await leasesAfter;
    await watcher.close().catch(() => undefined);
    const owner = (v: string | undefined) => v?.split("@")[0];
    const after = [...settled.table];
    const newEpochs = after.filter(([p, v]) => leasesBefore.get(p) !== v).length;
    const movedOwners = after.filter(([p, v]) => owner(leasesBefore.get(p)) !== owner(v)).length;
    console.log(
      `[faults/nats-cluster] leases before the kill: ${describeTable(leasesBefore)}\n` +
        `[faults/nats-cluster] leases settled ${(settled.settledMs / 1000).toFixed(1)} s after the kill ` +
        `(${settled.changes} lease changes seen on the way; ${newEpochs} of ${PARTITIONS} partitions got a new ` +
        `epoch, ${movedOwners} changed owner): ` +
        describeTable(settled.table),
    );
    await outage.expectIntact(caseStart, faultEnd);
  }, 240_000);
});
