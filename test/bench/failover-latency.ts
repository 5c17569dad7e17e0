// Benchmark (not a test): time from a target failing to the `outage.opened` webhook arriving, and
// from its recovery to `outage.resolved`, with 1 s checks from three regions and default thresholds
// (2 failures / 2 successes, majority quorum). Runs the built programs on real nats-server and
// clickhouse-server, like the tests. Bounded: RUNS cycles (default 10), each capped at 30 s.
//
//   pnpm bench:failover            # or: RUNS=20 pnpm exec tsx test/bench/failover-latency.ts
import { startFlipTarget } from "../harness/targets.js";
import { startMesh, waitFor } from "../harness/mesh.js";
import { startReceiver } from "../hooks/receiver.js";

const RUNS = Math.min(Math.max(Number(process.env.RUNS ?? 10), 1), 100);
const REGIONS = ["eu-west", "us-east", "ap-south"];

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

async function main(): Promise<void> {
  const target = await startFlipTarget();
  const port = target.port;
  const receiver = await startReceiver();
  const mesh = await startMesh({ regions: REGIONS, env: { PROBEMESH_LOG_LEVEL: "warn" } });
  const { cp } = mesh;
  const opened: number[] = [];
  const resolved: number[] = [];
  try {
    await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "bench",
        type: "webhook",
        url: receiver.url,
        events: ["outage.opened", "outage.resolved"],
      }),
    });
    await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 500,
        http: { url: `http://127.0.0.1:${port}/` },
      }),
    });
    const arrived = (type: string, after: number) => () =>
      receiver.received.find((r) => r.at >= after && (JSON.parse(r.body) as { type: string }).type === type)?.at;
    const upEverywhere = async () => {
      const s = (await (await cp.request("/v1/checks/web/status")).json()) as { state: string };
      return s.state === "up";
    };
    await waitFor("check up", upEverywhere, 60_000, 200);
    for (let run = 1; run <= RUNS; run++) {
      // Start each cycle at a random point of the probe interval.
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
      const failedAt = Date.now();
      target.healthy = false;
      const openedAt = await waitFor("outage.opened", arrived("outage.opened", failedAt), 30_000, 20);
      opened.push(openedAt - failedAt);
      await new Promise((r) => setTimeout(r, Math.random() * 1000));
      const backAt = Date.now();
      target.healthy = true;
      const resolvedAt = await waitFor("outage.resolved", arrived("outage.resolved", backAt), 30_000, 20);
      resolved.push(resolvedAt - backAt);
      await waitFor("check up", upEverywhere, 30_000, 200);
      process.stdout.write(
        `run ${run}/${RUNS}: target down -> outage.opened ${opened.at(-1)} ms; back -> outage.resolved ${resolved.at(-1)} ms\n`,
      );
    }
  } finally {
    await mesh.dispose();
    await receiver.close();
    target.close();
  }
  for (const [name, xs] of [
    ["target down -> outage.opened webhook", opened],
    ["target back -> outage.resolved webhook", resolved],
  ] as const) {
    const s = [...xs].sort((a, b) => a - b);
    process.stdout.write(
      `${name}: runs=${s.length} median=${quantile(s, 0.5)} ms p99=${quantile(s, 0.99)} ms min=${s[0]} ms max=${s.at(-1)} ms\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
