// Benchmark (not a test): ingest at JetStream speed, on real nats-server and clickhouse-server.
// Per run, in one process for the control plane and one for the agents (test/bench/ingest-publisher.ts,
// results pre-encoded, published as agents do with the result id as message id):
//   raw      the agents publish RESULTS results with no consumer attached: JetStream's publish rate
//   e2e      the same again with the ingest running (binding on, as main wires it): results/s from the
//            first publish to the last result stored in ClickHouse and acked; control-plane CPU
//            (process.cpuUsage) and ClickHouse CPU (/proc/<pid>/stat) per 1,000 results
//   backlog  RESULTS results waiting in the stream, the ingest started: drain results/s and batch sizes
// and once at the end, idle latency: single results 200 ms apart, publish -> stored and acked.
// With PIN=1 each run also measures raw and e2e again with the agents on other cores than the control
// plane, as in a deployment where agents run on their own hosts: `taskset` pins the agents' process to
// CPU 0 and nats-server, clickhouse-server and this process (the ingest) to the others, in both phases;
// the unpinned figures are still printed beside (the ratio on shared cores). Needs `taskset`
// (util-linux) and 2+ CPUs; otherwise it says so and measures unpinned only. PIN_NATS=agents puts
// nats-server on the agents' CPU instead (the control plane and ClickHouse then have a core to
// themselves, and nats-server's deliveries and acks compete with the publishers).
//
//   pnpm bench:ingest            # or: RESULTS=50000 RUNS=3 AGENTS=100 WINDOW=64 pnpm bench:ingest
//   PIN=1 RESULTS=50000 RUNS=3 pnpm bench:ingest   # also agents pinned apart from the control plane
//   BATCH_SIZE=500 FLUSH_MS=200 BACKLOG_FLUSH_MS=200 pnpm bench:ingest   # the earlier fixed batches
//   BATCH_SIZE=5000 BUSY_FLUSH_MS=50 MAX_ACK_PENDING=15000 PROGRESS_MS=1333 INSERT_FORMAT=TabSeparated \
//     pnpm bench:ingest   # the rule and format before session 5
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  CheckSchema,
  ProbeResultSchema,
  ProbeState,
  RESULTS_STREAM,
  resultSubject,
  type Check,
} from "@probemesh/proto";
import {
  createClickHouseStore,
  createIngest,
  createMemoryEnrollments,
  createResultBinding,
  ensureResultsStream,
  type Ingest,
  type IngestOptions,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { startClickHouse, startNats, startProcess, waitFor, type Managed } from "../harness/index.js";
import { procCpuMs } from "./proc-cpu.js";

const RESULTS = Math.min(Math.max(Number(process.env.RESULTS ?? 50_000), 1_000), 1_000_000);
const RUNS = Math.min(Math.max(Number(process.env.RUNS ?? 3), 1), 20);
const AGENTS = Number(process.env.AGENTS ?? 100);
const WINDOW = Number(process.env.WINDOW ?? 64);
const REGIONS = 10;
const CPUS = availableParallelism();
const CHECKS = 500;
const PUBLISHER = join(import.meta.dirname, "ingest-publisher.ts");
const ROOT = join(import.meta.dirname, "..", "..");
/** Batching overrides, to compare with other rules (e.g. the earlier fixed one: 500 rows or 200 ms). */
const BATCHING: Partial<IngestOptions> = {
  ...(process.env.BATCH_SIZE ? { batchSize: Number(process.env.BATCH_SIZE) } : {}),
  ...(process.env.FLUSH_MS ? { flushMs: Number(process.env.FLUSH_MS) } : {}),
  ...(process.env.BACKLOG_FLUSH_MS ? { backlogFlushMs: Number(process.env.BACKLOG_FLUSH_MS) } : {}),
  ...(process.env.BUSY_FLUSH_MS ? { busyFlushMs: Number(process.env.BUSY_FLUSH_MS) } : {}),
  ...(process.env.MAX_ACK_PENDING ? { maxAckPending: Number(process.env.MAX_ACK_PENDING) } : {}),
  ...(process.env.PROGRESS_MS ? { progressMs: Number(process.env.PROGRESS_MS) } : {}),
};
/** Insert body format (TabSeparated: the one before RowBinary). */
const INSERT_FORMAT = process.env.INSERT_FORMAT === "TabSeparated" ? "TabSeparated" : "RowBinary";

const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" });

/**
 * With PIN=1: the CPU lists for the agents and for the rest, or why the pinned phases cannot run.
 * Every process in the pinned phases is one this bench started (or the bench itself).
 */
function pinning(): { agents: string; rest: string; all: string; nats: string } | string | undefined {
  if (process.env.PIN !== "1") return undefined;
  const cpus = availableParallelism();
  if (cpus < 2) return `PIN=1 needs 2 or more CPUs, this machine has ${cpus}: pinned phases skipped`;
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
  } catch {
    return "PIN=1 needs taskset (util-linux), not found: pinned phases skipped";
  }
  const rest = cpus === 2 ? "1" : `1-${cpus - 1}`;
  return { agents: "0", rest, all: `0-${cpus - 1}`, nats: process.env.PIN_NATS === "agents" ? "0" : rest };
}

/** Sets the CPU affinity of every thread of `pid` (taskset -a -p -c). */
function pin(pid: number, cpus: string): void {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function main(): Promise<void> {
  const [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
  const chPid = ch.proc.child.pid!;
  const natsPid = nats.proc.child.pid!;
  const nc = await connect({ servers: nats.url });
  const store = createClickHouseStore({ url: ch.url, database: "pm_bench_ingest", log, insertFormat: INSERT_FORMAT });
  const publishers: Managed[] = [];
  try {
    await store.migrate();
    const jsm = await jetstreamManager(nc);
    await ensureResultsStream(jsm);

    // The binding main wires: every result checked against its sender's enrollment and its check's regions.
    const enrollments = createMemoryEnrollments();
    for (let a = 0; a < AGENTS; a++)
      await enrollments.enroll({ id: `agent-${a}`, region: `region-${a % REGIONS}`, provider: "bench" });
    const checks = new Map<string, Check>();
    for (let c = 0; c < CHECKS; c++)
      checks.set(`check-${c}`, create(CheckSchema, { id: `check-${c}`, type: "http", version: 1, intervalMs: 10_000 }));
    const binding = createResultBinding({ enrollments, check: (id) => checks.get(id), partitions: 16 });

    /** Starts the agents' process with `count` pre-encoded results; resolves once they are encoded. */
    async function agents(prefix: string, cpus?: string): Promise<{ go(): Promise<{ ms: number; cpuMs: number }> }> {
      const p = startProcess("ingest-publisher", process.execPath, ["--import", "tsx", PUBLISHER], {
        cwd: ROOT,
        stdio: ["pipe", "pipe", "pipe"],
        env: {
          ...process.env,
          NATS_URL: nats.url,
          COUNT: String(RESULTS),
          AGENTS: String(AGENTS),
          WINDOW: String(WINDOW),
          PREFIX: prefix,
          REGIONS: String(REGIONS),
          CHECKS: String(CHECKS),
        },
      });
      publishers.push(p);
      if (cpus !== undefined) pin(p.child.pid!, cpus);
      const output = (): string => {
        if (p.exited() && !p.output().includes("done ")) throw new Error(`publisher exited:\n${p.output()}`);
        return p.output();
      };
      await waitFor("publisher ready", () => output().includes("ready\n"), 120_000, 20);
      return {
        async go() {
          p.child.stdin!.write("go\n");
          const m = await waitFor(
            "publisher done",
            () => /done ([\d.]+) cpu ([\d.]+)/.exec(output()) ?? undefined,
            600_000,
            5,
          );
          return { ms: Number(m[1]), cpuMs: Number(m[2]) };
        },
      };
    }

    const ingestOpts = (durable: string): IngestOptions => ({ nc, store, log, durable, binding, ...BATCHING });
    async function stopIngest(ingest: Ingest, durable: string): Promise<void> {
      await ingest.stop();
      await jsm.consumers.delete(RESULTS_STREAM, durable);
    }
    const untrusted = (i: Ingest) => Object.values(i.stats().untrusted).reduce((x, y) => x + y, 0);

    const rows: {
      raw: number;
      e2e: number;
      pubDuring: number;
      cpCpu: number;
      chCpu: number;
      natsRawCpu: number;
      natsCpu: number;
      drain: number;
      pubRawCpu: number;
      pubCpu: number;
      drainCpCpu: number;
      drainChCpu: number;
      rawCores: number;
      e2eCores: number;
      ceiling: number;
    }[] = [];
    /** raw then e2e, with the agents on `pinned.agents` and the rest on `pinned.rest` when given. */
    async function rawAndE2e(run: number, pinned?: Exclude<ReturnType<typeof pinning>, string | undefined>) {
      const tag = pinned ? `pinned-${run}` : `${run}`;
      if (pinned) {
        for (const pid of [chPid, process.pid]) pin(pid, pinned.rest);
        pin(natsPid, pinned.nats);
      }
      try {
        // raw: JetStream alone.
        const raw = await agents(`raw-${tag}`, pinned?.agents);
        const natsRaw0 = procCpuMs(natsPid);
        const { ms: rawMs, cpuMs: pubRawCpu } = await raw.go();
        const natsRaw = procCpuMs(natsPid) - natsRaw0;
        await jsm.streams.purge(RESULTS_STREAM);

        // e2e: the same publish with the ingest consuming.
        const durable = `bench-e2e-${tag}`;
        const ingest = createIngest(ingestOpts(durable));
        await ingest.start();
        const e2eAgents = await agents(`e2e-${tag}`, pinned?.agents);
        const cp0 = cpuMs();
        const ch0 = procCpuMs(chPid);
        const nats0 = procCpuMs(natsPid);
        const t0 = performance.now();
        const { ms: pubMs, cpuMs: pubCpu } = await e2eAgents.go();
        await waitFor("all stored", () => ingest.stats().inserted >= RESULTS, 600_000, 10);
        const e2eMs = performance.now() - t0;
        const cp = cpuMs() - cp0;
        const chCpu = procCpuMs(chPid) - ch0;
        const natsCpu = procCpuMs(natsPid) - nats0;
        const s = ingest.stats();
        if (untrusted(ingest) > 0 || s.malformed > 0)
          throw new Error(`run ${tag}: results dropped ${JSON.stringify(s)}`);
        await stopIngest(ingest, durable);
        await jsm.streams.purge(RESULTS_STREAM);
        return { rawMs, pubRawCpu, natsRaw, pubMs, pubCpu, e2eMs, cp, chCpu, natsCpu, s };
      } finally {
        if (pinned) for (const pid of [natsPid, chPid, process.pid]) pin(pid, pinned.all);
      }
    }
    const perK = (x: number): number => (x * 1000) / RESULTS;
    /** One line of figures for a raw + e2e pair. */
    const pairLine = (p: Awaited<ReturnType<typeof rawAndE2e>>): string => {
      const raw = (RESULTS * 1000) / p.rawMs;
      const e2e = (RESULTS * 1000) / p.e2eMs;
      return (
        `raw publish ${fmt(raw)}/s | end-to-end ${fmt(e2e)}/s (${(e2e / raw).toFixed(2)} x raw; ` +
        `agents published at ${fmt((RESULTS * 1000) / p.pubMs)}/s meanwhile; ${p.s.inserts} inserts, largest ${p.s.largestBatch} rows; ` +
        `${fmt(p.s.received - RESULTS)} redeliveries, ${fmt(p.s.redeliveredCopies)} of them copies of held results dropped, ` +
        `${fmt(p.s.progressAcks)} in-progress acks) | ` +
        `control plane ${perK(p.cp).toFixed(1)} CPU-ms, ClickHouse ${perK(p.chCpu).toFixed(1)} CPU-ms, ` +
        `nats-server ${perK(p.natsCpu).toFixed(1)} CPU-ms (${perK(p.natsRaw).toFixed(1)} publish only), ` +
        `agents ${perK(p.pubCpu).toFixed(1)} CPU-ms (${perK(p.pubRawCpu).toFixed(1)} publish only) per 1,000`
      );
    };
    /**
     * How busy the cores were in each phase, and the CPU ceiling of the end-to-end ratio: were all
     * CPUS cores busy with what one result costs end to end (agents, nats-server, control plane,
     * ClickHouse), the rate would be CPUS * 1000 / that cost; over the raw rate of the same run.
     */
    const cpuBound = (p: Awaited<ReturnType<typeof rawAndE2e>>) => {
      const rawCores = (p.pubRawCpu + p.natsRaw) / p.rawMs;
      const e2eCores = (p.pubCpu + p.natsCpu + p.cp + p.chCpu) / p.e2eMs;
      const perResult = (p.pubCpu + p.natsCpu + p.cp + p.chCpu) / RESULTS;
      return { rawCores, e2eCores, ceiling: (CPUS / perResult) * (p.rawMs / RESULTS) };
    };
    const pin1 = pinning();
    if (typeof pin1 === "string") process.stdout.write(`${pin1}\n`);
    const pinnedRatios: number[] = [];
    const pinnedCp: number[] = [];

    for (let run = 1; run <= RUNS; run++) {
      const pair = await rawAndE2e(run);
      const { rawMs, pubRawCpu, natsRaw, pubMs, pubCpu, e2eMs, cp, chCpu, natsCpu } = pair;
      // backlog: RESULTS results already waiting, then the ingest starts.
      const backlogDurable = `bench-backlog-${run}`;
      const backlogIngest = createIngest(ingestOpts(backlogDurable));
      await backlogIngest.start();
      await backlogIngest.stop();
      await (await agents(`backlog-${run}`)).go();
      const d0 = performance.now();
      const dcp0 = cpuMs();
      const dch0 = procCpuMs(chPid);
      const drainer = createIngest(ingestOpts(backlogDurable));
      await drainer.start();
      await waitFor("backlog drained", () => drainer.stats().inserted >= RESULTS, 600_000, 10);
      const drainMs = performance.now() - d0;
      const drainCp = cpuMs() - dcp0;
      const drainCh = procCpuMs(chPid) - dch0;
      const ds = drainer.stats();
      await stopIngest(drainer, backlogDurable);
      await jsm.streams.purge(RESULTS_STREAM);

      const r = {
        raw: (RESULTS * 1000) / rawMs,
        e2e: (RESULTS * 1000) / e2eMs,
        pubDuring: (RESULTS * 1000) / pubMs,
        cpCpu: (cp * 1000) / RESULTS,
        chCpu: (chCpu * 1000) / RESULTS,
        natsRawCpu: (natsRaw * 1000) / RESULTS,
        natsCpu: (natsCpu * 1000) / RESULTS,
        drain: (RESULTS * 1000) / drainMs,
        pubRawCpu: (pubRawCpu * 1000) / RESULTS,
        pubCpu: (pubCpu * 1000) / RESULTS,
        drainCpCpu: (drainCp * 1000) / RESULTS,
        drainChCpu: (drainCh * 1000) / RESULTS,
        ...cpuBound(pair),
      };
      rows.push(r);
      process.stdout.write(
        `run ${run}: ${pairLine(pair)} | backlog drain ${fmt(r.drain)}/s (${ds.inserts} inserts, largest ${ds.largestBatch} rows; control plane ` +
          `${r.drainCpCpu.toFixed(1)}, ClickHouse ${r.drainChCpu.toFixed(1)} CPU-ms per 1,000) | cores busy: raw ` +
          `${r.rawCores.toFixed(2)}, end to end ${r.e2eCores.toFixed(2)} of ${CPUS}; CPU ceiling ${r.ceiling.toFixed(2)} x raw\n`,
      );
      if (typeof pin1 === "object") {
        // The same pair with the agents on a core of their own (agents on other hosts, as deployed).
        const pinned = await rawAndE2e(run, pin1);
        pinnedRatios.push(pinned.rawMs / pinned.e2eMs);
        pinnedCp.push(perK(pinned.cp));
        process.stdout.write(
          `run ${run} pinned (agents on CPU ${pin1.agents}, nats-server on ${pin1.nats}, the ingest and ClickHouse on ${pin1.rest}): ${pairLine(pinned)}\n`,
        );
      }
    }

    // Idle: one result at a time; publish -> stored and acked.
    const idleDurable = "bench-idle";
    const latencies: number[] = [];
    const published = new Map<string, number>();
    const idle = createIngest({
      ...ingestOpts(idleDurable),
      onStored: (stored) => {
        for (const row of stored) {
          const at = published.get(row.id);
          if (at !== undefined) latencies.push(performance.now() - at);
        }
      },
    });
    await idle.start();
    const js = jetstream(nc);
    for (let i = 0; i < 30; i++) {
      const r = create(ProbeResultSchema, {
        id: `idle-${i}`,
        checkId: "check-1",
        checkVersion: 1,
        agentId: "agent-1",
        region: "region-1",
        provider: "bench",
        startedAtMs: BigInt(Date.now()),
        durationMs: 12,
        state: ProbeState.UP,
        seq: BigInt(i + 1),
        attempts: 1,
        target: "https://service-1.example.com/healthz",
        httpStatus: 200,
      });
      published.set(r.id, performance.now());
      await js.publish(resultSubject(r.region, r.agentId), toBinary(ProbeResultSchema, r), { msgID: r.id });
      await new Promise((res) => setTimeout(res, 200));
    }
    await waitFor("idle results stored", () => latencies.length >= 30, 30_000);
    const idleStats = idle.stats();
    await stopIngest(idle, idleDurable);

    const sorted = [...latencies].sort((a, b) => a - b);
    const m = (k: keyof (typeof rows)[number]) => median(rows.map((r) => r[k]));
    process.stdout.write(
      `\ningest end to end (${fmt(RESULTS)} results x ${RUNS} runs, ${AGENTS} agents x window ${WINDOW}, ` +
        `batching ${JSON.stringify(BATCHING)}, ${INSERT_FORMAT} inserts, ` +
        `${REGIONS} regions, ${CHECKS} checks; medians):\n` +
        `  raw JetStream publish ${fmt(m("raw"))} results/s; end to end ${fmt(m("e2e"))} results/s = ` +
        `${median(rows.map((r) => r.e2e / r.raw)).toFixed(2)} x raw (goal >= 0.9), agents and control plane sharing the cores\n` +
        (pinnedRatios.length > 0
          ? `  pinned (agents on CPU ${typeof pin1 === "object" ? `${pin1.agents}, nats-server on ${pin1.nats}, ingest and ClickHouse on ${pin1.rest}` : ""}): ` +
            `end to end ${median(pinnedRatios).toFixed(2)} x raw ` +
            `(${pinnedRatios.map((x) => x.toFixed(2)).join(" / ")}), control plane ${median(pinnedCp).toFixed(1)} CPU-ms per 1,000\n`
          : "") +
        `  control plane ${m("cpCpu").toFixed(1)} CPU-ms and ClickHouse ${m("chCpu").toFixed(1)} CPU-ms per 1,000 results ` +
        `(nats-server ${m("natsCpu").toFixed(1)} CPU-ms end to end, ${m("natsRawCpu").toFixed(1)} publish only; ` +
        `agents ${m("pubCpu").toFixed(1)} CPU-ms end to end, ${m("pubRawCpu").toFixed(1)} publish only)\n` +
        `  CPU: the raw phase kept ${m("rawCores").toFixed(2)} of ${CPUS} cores busy, end to end ${m("e2eCores").toFixed(2)}; ` +
        `with all ${CPUS} busy at the end-to-end cost per result, end to end could reach at most ` +
        `${m("ceiling").toFixed(2)} x raw on this machine (agents, NATS, control plane and ClickHouse on the same cores; ` +
        `only meaningful when nothing else runs: the CPU of other programs is not counted)\n` +
        `  backlog drain ${fmt(m("drain"))} results/s = ${median(rows.map((r) => r.drain / r.raw)).toFixed(2)} x raw ` +
        `(the ingest alone with nats-server and ClickHouse; control plane ${m("drainCpCpu").toFixed(1)} and ClickHouse ` +
        `${m("drainChCpu").toFixed(1)} CPU-ms per 1,000)\n` +
        `  idle (one result every 200 ms): publish -> stored and acked p50 ${sorted[15]!.toFixed(0)} ms, ` +
        `max ${sorted.at(-1)!.toFixed(0)} ms, ${idleStats.inserts} inserts of at most ${idleStats.largestBatch} rows\n`,
    );
  } finally {
    for (const p of publishers) await p.kill();
    await nc.close();
    await store.close();
    await Promise.all([nats.dispose(), ch.dispose()]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
