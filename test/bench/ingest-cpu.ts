// Benchmark (not a test): control-plane CPU per 1,000 results ingested, with and without binding
// results to their senders, on real nats-server and clickhouse-server. The whole path the control
// plane runs per result: JetStream delivery, decode, row conversion, binding (subject, enrollment,
// assignment), insert into ClickHouse, ack, and the consensus engine fed with each stored batch (with
// or without its vote bound). Runs alternate off/on, each draining the same stream with a new durable.
//
//   pnpm bench:ingest-cpu         # or: RESULTS=20000 RUNS=4 pnpm exec tsx test/bench/ingest-cpu.ts
import { create, toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { CheckSchema, ProbeResultSchema, ProbeState, resultSubject, type Check } from "@probemesh/proto";
import {
  createClickHouseStore,
  createConsensusEngine,
  createIngest,
  createMemoryEnrollments,
  createResultBinding,
  ensureResultsStream,
  observationFromRow,
  policyFromCheck,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { startClickHouse, startNats } from "../harness/index.js";

const RESULTS = Math.min(Math.max(Number(process.env.RESULTS ?? 20_000), 1_000), 200_000);
const RUNS = Math.min(Math.max(Number(process.env.RUNS ?? 4), 1), 20);
const AGENTS = 200;
const REGIONS = Array.from({ length: 10 }, (_, i) => `region-${i}`);
const CHECKS = 500;

const log = pino({ level: "silent" });
const regionOf = (a: number) => REGIONS[a % REGIONS.length]!;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
  const nc = await connect({ servers: nats.url });
  const store = createClickHouseStore({ url: ch.url, database: "pm_bench", log });
  try {
    await store.migrate();
    const jsm = await jetstreamManager(nc);
    await ensureResultsStream(jsm);
    const js = jetstream(nc);

    const enrollments = createMemoryEnrollments();
    for (let a = 0; a < AGENTS; a++)
      await enrollments.enroll({ id: `agent-${a}`, region: regionOf(a), provider: "bench" });
    const checks = new Map<string, Check>();
    for (let c = 0; c < CHECKS; c++) {
      const regions = c % 2 === 0 ? [] : [0, 1, 2].map((k) => REGIONS[(c + k) % REGIONS.length]!);
      checks.set(
        `check-${c}`,
        create(CheckSchema, { id: `check-${c}`, type: "http", version: 1, intervalMs: 30_000, regions }),
      );
    }
    const binding = createResultBinding({ enrollments, check: (id) => checks.get(id), partitions: 16 });

    // The stream holds RESULTS results, every one of them trusted (the cost of the common case).
    const t0 = Date.now() - 60_000;
    for (let i = 0; i < RESULTS; i += 500) {
      const acks = [];
      for (let j = i; j < Math.min(RESULTS, i + 500); j++) {
        const a = j % AGENTS;
        const region = regionOf(a);
        let c = (j * 7) % CHECKS;
        for (;;) {
          const check = checks.get(`check-${c}`)!;
          if (check.regions.length === 0 || check.regions.includes(region)) break;
          c = (c + 1) % CHECKS;
        }
        const r = create(ProbeResultSchema, {
          id: `bench-${j}`,
          checkId: `check-${c}`,
          checkVersion: 1,
          agentId: `agent-${a}`,
          region,
          provider: "bench",
          startedAtMs: BigInt(t0 + j),
          durationMs: 41.7,
          state: j % 50 === 0 ? ProbeState.DOWN : ProbeState.UP,
          reason: j % 50 === 0 ? "timeout" : "",
          phases: { dnsMs: 1.2, connectMs: 3.4, tlsMs: 8.9, ttfbMs: 25.1, transferMs: 3.1 },
          seq: BigInt(j + 1),
          attempts: 1,
          target: `https://service-${c}.example.com/healthz`,
          httpStatus: j % 50 === 0 ? 0 : 200,
          bodyBytes: 512n,
        });
        acks.push(js.publish(resultSubject(region, r.agentId), toBinary(ProbeResultSchema, r), { msgID: r.id }));
      }
      await Promise.all(acks);
    }

    async function run(bound: boolean, n: number): Promise<{ cpuMs: number; wallMs: number }> {
      const engine = createConsensusEngine({
        now: Date.now,
        checks: [...checks.values()].map((c) => policyFromCheck(c)),
        ...(bound ? { mayVote: (id: string, region: string) => enrollments.mayVote(id, region) } : {}),
      });
      const ingest = createIngest({
        nc,
        store,
        log,
        durable: `bench-${n}`,
        ...(bound ? { binding } : {}),
        onStored: (rows) => void engine.observeMany(rows.map(observationFromRow)),
      });
      const cpu = process.cpuUsage();
      const wall = performance.now();
      await ingest.start();
      while (ingest.stats().inserted + ingest.stats().malformed < RESULTS) await new Promise((r) => setTimeout(r, 20));
      const d = process.cpuUsage(cpu);
      const wallMs = performance.now() - wall;
      await ingest.stop();
      const untrusted = Object.values(ingest.stats().untrusted).reduce((x, y) => x + y, 0);
      if (untrusted > 0 || engine.stats().observed !== RESULTS)
        throw new Error(`run ${n}: ${untrusted} untrusted, ${engine.stats().observed} observed of ${RESULTS}`);
      await jsm.consumers.delete("PROBEMESH_RESULTS", `bench-${n}`);
      return { cpuMs: (d.user + d.system) / 1000, wallMs };
    }

    // One throw-away run warms the JIT and ClickHouse.
    await run(true, 0);
    const off: number[] = [];
    const on: number[] = [];
    for (let k = 0; k < RUNS; k++) {
      for (const bound of k % 2 === 0 ? [false, true] : [true, false]) {
        const r = await run(bound, 1 + 2 * k + (bound ? 1 : 0));
        const per1000 = (r.cpuMs * 1000) / RESULTS;
        (bound ? on : off).push(per1000);
        process.stdout.write(
          `run ${k + 1} ${bound ? "bound  " : "unbound"}: ${per1000.toFixed(1)} CPU-ms per 1,000 results (${(r.wallMs / 1000).toFixed(1)} s wall)\n`,
        );
      }
    }
    const mOff = median(off);
    const mOn = median(on);
    const all = [...off, ...on];
    process.stdout.write(
      `ingest CPU per 1,000 results (${RESULTS} results x ${RUNS} runs each, ${AGENTS} agents, ${REGIONS.length} regions, ${CHECKS} checks):\n` +
        `  without binding ${mOff.toFixed(1)} CPU-ms (median), with binding ${mOn.toFixed(1)} CPU-ms: ` +
        `${mOn >= mOff ? "+" : ""}${(((mOn - mOff) / mOff) * 100).toFixed(1)} % (goal < +10 %)\n` +
        `  single runs ${Math.min(...all).toFixed(1)}-${Math.max(...all).toFixed(1)} CPU-ms: a difference smaller than ` +
        `that spread is noise; \`pnpm bench:ingest-validate\` measures the binding's own cost\n`,
    );
  } finally {
    await nc.close();
    await store.close();
    await Promise.all([nats.dispose(), ch.dispose()]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
