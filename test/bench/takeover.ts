// Benchmark (not a test): kill -9 of the replica that owns a check's partition → the first decision by
// the replica that takes it over. Two control-plane replicas (PROBEMESH_REPLICA_ID replica-0/1) on real
// nats-server and clickhouse-server, three agents, a 1 s check with an open outage. Each run reads the
// owner from the lease bucket (`probemesh_leases`, key `partition.<n>`, value {owner, epoch, since}),
// kills it with SIGKILL and at the same moment brings the target back, so the new owner's first decision
// is the recovery. Printed per run and as p50/p99:
//   - lease: kill -9 → the lease names the other replica (read from KV every 20 ms);
//   - decision: kill -9 → the survivor logs its first "consensus transition" for the check;
//   - webhook: kill -9 → the signed `outage.resolved` arrives (includes the 2-success recovery threshold).
// The killed replica is restarted (same id and ports) before the next run. Needs the lease work (HA-PLAN.md).
//
//   pnpm bench:takeover            # or: RUNS=20 PARTITIONS=16 pnpm exec tsx test/bench/takeover.ts
import { verifyWebhook } from "@probemesh/control-plane";
import { readLease, partitionOfCheck } from "../harness/faults.js";
import { startFlipTarget } from "../harness/targets.js";
import { startMesh, waitFor } from "../harness/mesh.js";
import type { SecureNatsServer } from "../harness/nats.js";
import { startReceiver } from "../hooks/receiver.js";

const RUNS = Math.min(Math.max(Number(process.env.RUNS ?? 10), 1), 100);
const PARTITIONS = Math.min(Math.max(Number(process.env.PARTITIONS ?? 16), 1), 1024);
const REGIONS = ["eu-west", "us-east", "ap-south"];

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

/** Epoch ms of the first "consensus transition" line for `checkId` logged at or after `after`. */
function firstTransition(output: string, checkId: string, after: number): number | undefined {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{") || !line.includes('"consensus transition"')) continue;
    const l = JSON.parse(line) as { time?: number; checkId?: string };
    if (l.checkId === checkId && (l.time ?? 0) >= after) return l.time;
  }
  return undefined;
}

async function main(): Promise<void> {
  const target = await startFlipTarget();
  const receiver = await startReceiver();
  const mesh = await startMesh({
    regions: REGIONS,
    replicas: 2,
    env: { PROBEMESH_PARTITIONS: String(PARTITIONS) },
  });
  const nc = await (mesh.nats as SecureNatsServer).connect();
  const lease: number[] = [];
  const decision: number[] = [];
  const webhook: number[] = [];
  try {
    const cp = mesh.cp;
    const hook = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "bench",
        type: "webhook",
        url: receiver.url,
        events: ["outage.opened", "outage.resolved"],
      }),
    });
    const { secret } = (await hook.json()) as { secret: string };
    const created = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 500,
        http: { url: `http://127.0.0.1:${target.port}/` },
      }),
    });
    const { uid } = (await created.json()) as { uid: string };
    const partition = partitionOfCheck(uid, PARTITIONS);
    const arrived = (type: string, after: number) => () =>
      receiver.received.find(
        (r) =>
          r.at >= after &&
          verifyWebhook<{ type: string }>(secret, r.headers as Record<string, string>, r.body).type === type,
      )?.at;
    const stateOn = (i: number, state: string) => async () => {
      const res = await mesh.replicas[i]!.request("/v1/checks/web/status");
      return res.status === 200 && ((await res.json()) as { state: string }).state === state;
    };
    const ownerIndex = async () => {
      const l = await readLease(nc, partition);
      const i = l ? mesh.replicaIds.indexOf(l.owner) : -1;
      return i >= 0 ? i : undefined;
    };
    await waitFor("check up", stateOn(0, "up"), 60_000, 200);

    for (let run = 1; run <= RUNS; run++) {
      const owner = await waitFor(`partition ${partition} owned`, ownerIndex, 30_000, 100);
      const survivor = 1 - owner;
      const failedAt = Date.now();
      target.healthy = false;
      await waitFor("outage.opened", arrived("outage.opened", failedAt), 30_000, 20);
      // Start at a random point of the probe interval and of the lease's renewal round.
      await new Promise((r) => setTimeout(r, Math.random() * 1000));
      const before = mesh.replicas[survivor]!.proc.output().length;
      const killedAt = Date.now();
      void mesh.replicas[owner]!.proc.kill();
      target.healthy = true;
      const leaseAt = await waitFor(
        "lease taken over",
        async () => ((await ownerIndex()) === survivor ? Date.now() : undefined),
        30_000,
        20,
      );
      const resolvedAt = await waitFor("outage.resolved", arrived("outage.resolved", killedAt), 30_000, 20);
      const decidedAt = firstTransition(mesh.replicas[survivor]!.proc.output().slice(before), "web", killedAt);
      lease.push(leaseAt - killedAt);
      webhook.push(resolvedAt - killedAt);
      if (decidedAt !== undefined) decision.push(decidedAt - killedAt);
      process.stdout.write(
        `run ${run}/${RUNS}: kill -9 ${mesh.replicaIds[owner]} -> lease ${leaseAt - killedAt} ms; first decision ${decidedAt === undefined ? "not logged" : `${decidedAt - killedAt} ms`}; outage.resolved ${resolvedAt - killedAt} ms\n`,
      );
      await mesh.restartReplica(owner);
      await waitFor("check up", stateOn(survivor, "up"), 30_000, 200);
    }
  } finally {
    await nc.close();
    await mesh.dispose();
    await receiver.close();
    target.close();
  }
  for (const [name, xs] of [
    ["kill -9 of the owner -> lease held by the survivor", lease],
    ["kill -9 of the owner -> first decision by the survivor", decision],
    ["kill -9 of the owner -> signed outage.resolved (target back at the kill)", webhook],
  ] as const) {
    const s = [...xs].sort((a, b) => a - b);
    process.stdout.write(
      `${name}: runs=${s.length} p50=${quantile(s, 0.5)} ms p99=${quantile(s, 0.99)} ms min=${s[0]} ms max=${s.at(-1)} ms\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
