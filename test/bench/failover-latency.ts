// Benchmark (not a test): time from a target failing to the signed `outage.opened` webhook arriving, and
// from its recovery to `outage.resolved`, with 1 s checks from three regions and default thresholds
// (2 failures / 2 successes, majority quorum), side by side with ClickHouse healthy and with ClickHouse
// hung (SIGSTOP for the whole cycle, at most HANG_MS, then SIGCONT). Runs the built programs on real
// nats-server and clickhouse-server, like the tests, alternating the two modes in one run so both see
// the same machine. Bounded: RUNS cycles per mode (default 10), each event capped at 30 s after the flip.
// A hung-mode event that only arrived after SIGCONT is counted as such (its latency includes the hang).
//
//   pnpm bench:failover            # or: RUNS=20 HANG_MS=20000 pnpm exec tsx test/bench/failover-latency.ts
import { verifyWebhook } from "@probemesh/control-plane";
import { startFlipTarget } from "../harness/targets.js";
import { startMesh, waitFor } from "../harness/mesh.js";
import { startReceiver } from "../hooks/receiver.js";

const RUNS = Math.min(Math.max(Number(process.env.RUNS ?? 10), 1), 100);
const HANG_MS = Math.min(Math.max(Number(process.env.HANG_MS ?? 20_000), 1000), 60_000);
const REGIONS = ["eu-west", "us-east", "ap-south"];

type Mode = "healthy" | "hung";

interface Sample {
  ms: number;
  /** Arrived while ClickHouse was still stopped (hung mode). */
  duringHang: boolean;
}

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
  const samples: Record<Mode, { opened: Sample[]; resolved: Sample[] }> = {
    healthy: { opened: [], resolved: [] },
    hung: { opened: [], resolved: [] },
  };
  try {
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
    // Only signed deliveries count: each one is verified with the hook's secret.
    const arrived = (type: string, after: number) => () =>
      receiver.received.find(
        (r) =>
          r.at >= after &&
          verifyWebhook<{ type: string }>(secret, r.headers as Record<string, string>, r.body).type === type,
      )?.at;
    const upEverywhere = async () => {
      const s = (await (await cp.request("/v1/checks/web/status")).json()) as { state: string };
      return s.state === "up";
    };
    await waitFor("check up", upEverywhere, 60_000, 200);

    const cycle = async (mode: Mode, hangEndsAt: () => number) => {
      const failedAt = Date.now();
      target.healthy = false;
      const openedAt = await waitFor("outage.opened", arrived("outage.opened", failedAt), 30_000, 20);
      samples[mode].opened.push({ ms: openedAt - failedAt, duringHang: openedAt < hangEndsAt() });
      await new Promise((r) => setTimeout(r, Math.random() * 1000));
      const backAt = Date.now();
      target.healthy = true;
      const resolvedAt = await waitFor("outage.resolved", arrived("outage.resolved", backAt), 30_000, 20);
      samples[mode].resolved.push({ ms: resolvedAt - backAt, duringHang: resolvedAt < hangEndsAt() });
    };

    for (let run = 1; run <= RUNS; run++) {
      for (const mode of ["healthy", "hung"] as const) {
        // Start each cycle at a random point of the probe interval.
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
        if (mode === "healthy") {
          await cycle(mode, () => 0);
        } else {
          let hangEnd = Infinity;
          // The cycle runs while ClickHouse is stopped; SIGCONT once it is over, or after HANG_MS if it is not.
          const pid = mesh.ch.proc.child.pid!;
          process.kill(pid, "SIGSTOP");
          const running = cycle(mode, () => hangEnd);
          try {
            await Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, HANG_MS))]);
          } finally {
            hangEnd = Date.now();
            process.kill(pid, "SIGCONT");
          }
          await running;
        }
        await waitFor("check up", upEverywhere, 60_000, 200);
        const o = samples[mode].opened.at(-1)!;
        const r = samples[mode].resolved.at(-1)!;
        const note = (s: Sample) => (mode === "hung" && !s.duringHang ? " (after SIGCONT)" : "");
        process.stdout.write(
          `run ${run}/${RUNS} ClickHouse ${mode}: down -> outage.opened ${o.ms} ms${note(o)}; back -> outage.resolved ${r.ms} ms${note(r)}\n`,
        );
      }
    }
  } finally {
    await mesh.dispose();
    await receiver.close();
    target.close();
  }
  process.stdout.write(
    `\n${"".padEnd(44)} ${"ClickHouse healthy".padEnd(34)} ClickHouse hung (SIGSTOP ≤ ${HANG_MS} ms)\n`,
  );
  for (const [name, key] of [
    ["target down -> signed outage.opened", "opened"],
    ["target back -> signed outage.resolved", "resolved"],
  ] as const) {
    const fmt = (xs: Sample[]) => {
      const s = xs.map((x) => x.ms).sort((a, b) => a - b);
      return `p50 ${quantile(s, 0.5)} ms p99 ${quantile(s, 0.99)} ms (n=${s.length})`;
    };
    const hung = samples.hung[key];
    process.stdout.write(
      `${name.padEnd(44)} ${fmt(samples.healthy[key]).padEnd(34)} ${fmt(hung)}, ${hung.filter((x) => x.duringHang).length}/${hung.length} during the hang\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
