// Benchmark (not a test): ClickHouse's CPU per 1,000 stored results against rows per insert and the
// insert format, on a real clickhouse-server and nothing else (no NATS, no ingest loop), so the
// figures are the store's alone. For each format and batch size, RESULTS rows shaped like
// `pnpm bench:ingest`'s are inserted one batch at a time into a fresh database (migrations applied:
// the rollup views run on every insert), then SETTLE_MS more are counted for the merges the inserts
// cause; ClickHouse's idle CPU over the same time is measured first and subtracted.
//
//   pnpm bench:ingest-insert      # or: RESULTS=50000 BATCHES=1000,5000,25000 SETTLE_MS=3000 pnpm bench:ingest-insert
import { createClickHouseStore, type ResultRow } from "@probemesh/control-plane";
import { pino } from "pino";
import { startClickHouse } from "../harness/index.js";
import { procCpuMs } from "./proc-cpu.js";

const RESULTS = Math.min(Math.max(Number(process.env.RESULTS ?? 50_000), 1_000), 1_000_000);
const BATCHES = (process.env.BATCHES ?? "1000,5000,25000").split(",").map(Number);
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 3000);
const FORMATS = ["TabSeparated", "RowBinary"] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rows(prefix: string): ResultRow[] {
  const t0 = Date.now() - 600_000;
  return Array.from({ length: RESULTS }, (_, j) => {
    const c = (j * 7) % 500;
    const down = j % 50 === 0;
    return {
      id: `${prefix}-${j}`,
      checkId: `check-${c}`,
      checkUid: `uid-${c}`,
      checkVersion: 1,
      agentId: `agent-${j % 100}`,
      region: `region-${j % 10}`,
      provider: "bench",
      startedAt: t0 + j,
      durationMs: 41.7,
      state: down ? "down" : "up",
      reason: down ? "timeout" : "",
      message: "",
      phases: { dnsMs: 1.2, connectMs: 3.4, tlsMs: 8.9, ttfbMs: 25.1, transferMs: 3.1 },
      seq: Math.floor(j / 100) + 1,
      attempts: 1,
      target: `https://service-${c}.example.com/healthz`,
      canary: false,
      lagMs: 0,
      httpStatus: down ? 0 : 200,
      bodyBytes: 512,
      details: {},
    };
  });
}

async function main(): Promise<void> {
  const ch = await startClickHouse();
  const pid = ch.proc.child.pid!;
  const log = pino({ level: "silent" });
  try {
    await sleep(2000);
    const idle0 = procCpuMs(pid);
    await sleep(SETTLE_MS);
    const idlePerMs = (procCpuMs(pid) - idle0) / SETTLE_MS;
    process.stdout.write(
      `ClickHouse idle: ${(idlePerMs * 1000).toFixed(1)} CPU-ms/s; ${RESULTS.toLocaleString("en-US")} results per case\n`,
    );
    for (const batch of BATCHES) {
      for (const format of FORMATS) {
        const store = createClickHouseStore({
          url: ch.url,
          database: `pm_bench_insert_${format === "RowBinary" ? "rb" : "tsv"}_${batch}`,
          log,
          insertFormat: format,
        });
        await store.migrate();
        const all = rows(`${format}-${batch}`);
        await sleep(500);
        const c0 = procCpuMs(pid);
        const cp0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < all.length; i += batch) await store.insertResults(all.slice(i, i + batch));
        const insertMs = performance.now() - t0;
        const cp = process.cpuUsage(cp0);
        const during = procCpuMs(pid) - c0;
        await sleep(SETTLE_MS);
        const total = procCpuMs(pid) - c0 - idlePerMs * (performance.now() - t0);
        const per1k = (ms: number) => ((ms * 1000) / RESULTS).toFixed(1);
        process.stdout.write(
          `${format.padEnd(12)} ${String(batch).padStart(6)} rows/insert: ClickHouse ${per1k(total)} CPU-ms per 1,000 ` +
            `(${per1k(during)} during the inserts, the rest merges after; idle subtracted), ` +
            `client ${per1k((cp.user + cp.system) / 1000)} CPU-ms per 1,000, ${Math.round((RESULTS * 1000) / insertMs).toLocaleString("en-US")} rows/s\n`,
        );
        await store.close();
      }
    }
  } finally {
    await ch.dispose();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
