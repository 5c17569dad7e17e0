// Benchmark (not a test): time from a target failing to the signed `outage.opened` webhook arriving, and
// from its recovery to `outage.resolved`, with 1 s checks from three regions and default thresholds
// (2 failures / 2 successes, majority quorum), side by side with ClickHouse healthy and with ClickHouse
// hung (SIGSTOP for the whole cycle, at most HANG_MS, then SIGCONT). Runs the built programs on real
// nats-server and clickhouse-server, like the tests, alternating the two modes in one run so both see
// the same machine. Bounded: RUNS cycles per mode (default 10), each event capped at 30 s after the flip.
// A hung-mode event that only arrived after SIGCONT is counted as such (its latency includes the hang).
//
// Each event is also split into stages, from data the system already exposes (read by the bench over its
// own NATS connection, as the control plane's user): the results stream (every result's startedAt and
// duration from its payload, its publish time from the stream's message timestamp), the webhook payload
// (`confirmedAt` / `resolvedAt`: the deciding replica's clock when it decided), the hook queue (a plain
// subscription to its subjects: when the enqueue reached NATS), the claims stream (the worker claims a
// delivery just before attempting it: its message timestamp) and the receiver's arrival time:
//   schedule  flip -> startedAt of the first result showing the new state (any region)
//   threshold that -> startedAt of the deciding result (the last result published before the decision:
//             waiting for the 2nd failure/success in a majority of regions; ~1 interval by design)
//   probe     the deciding result's duration
//   publish   its completion -> its stream timestamp (agent publish window + JetStream)
//   decide    stream timestamp -> confirmedAt/resolvedAt (feed delivery + consensus)
//   enqueue   decision -> the hook queue message reaches NATS (relay: KV state write, hook list, enqueue)
//   pickup    enqueue -> the worker's claim (fetch, registry and check lookups)
//   deliver   claim -> the webhook arrives at the receiver (state read, signing, HTTP)
// All clocks are this machine's. Printed per cycle and as p50/p99 per stage at the end.
//
//   pnpm bench:failover            # or: RUNS=20 HANG_MS=20000 pnpm exec tsx test/bench/failover-latency.ts
import { fromBinary } from "@bufbuild/protobuf";
import { DeliverPolicy, jetstream, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { CLAIMS_STREAM, DELIVERIES_SUBJECT_PREFIX, verifyWebhook } from "@probemesh/control-plane";
import { ProbeResultSchema, ProbeState, RESULTS_STREAM } from "@probemesh/proto";
import { startFlipTarget } from "../harness/targets.js";
import { startMesh, waitFor } from "../harness/mesh.js";
import { startReceiver } from "../hooks/receiver.js";

const RUNS = Math.min(Math.max(Number(process.env.RUNS ?? 10), 1), 100);
const HANG_MS = Math.min(Math.max(Number(process.env.HANG_MS ?? 20_000), 1000), 60_000);
const REGIONS = ["eu-west", "us-east", "ap-south"];
/** Log level of the mesh's programs: their notable lines are listed under each cycle. */
const LOG_LEVEL = process.env.LOG_LEVEL ?? "info";
const STAGES = ["schedule", "threshold", "probe", "publish", "decide", "enqueue", "pickup", "deliver"] as const;
type Stage = (typeof STAGES)[number];

type Mode = "healthy" | "hung";

/** One result of the bench's check as read from the results stream. */
interface StreamResult {
  region: string;
  startedAt: number;
  durationMs: number;
  down: boolean;
  /** The stream's message timestamp (publish time). */
  ts: number;
}

/** What the bench sees of the decision path, from its own NATS connection. */
interface Trace {
  results: StreamResult[];
  /** Event id -> when its hook queue message reached this bench (≈ the enqueue). */
  enqueued: Map<string, number>;
  /** Delivery id -> the claim's stream timestamp. */
  claimed: Map<string, number>;
  close(): Promise<void>;
}

async function traceDecisionPath(nc: NatsConnection, checkId: string): Promise<Trace> {
  const js = jetstream(nc);
  const results: StreamResult[] = [];
  const enqueued = new Map<string, number>();
  const claimed = new Map<string, number>();
  const tsOf = (m: JsMsg) => Math.floor(m.info.timestampNanos / 1e6);
  const resultsFeed = await (
    await js.consumers.get(RESULTS_STREAM, { deliver_policy: DeliverPolicy.New })
  ).consume({
    callback: (m) => {
      const r = fromBinary(ProbeResultSchema, m.data);
      if (r.checkId !== checkId) return;
      const startedAt = Number(r.startedAtMs);
      results.push({
        region: r.region,
        startedAt,
        durationMs: r.durationMs,
        down: r.state === ProbeState.DOWN,
        ts: tsOf(m),
      });
    },
  });
  const claims = await (
    await js.consumers.get(CLAIMS_STREAM, { deliver_policy: DeliverPolicy.New })
  ).consume({
    callback: (m) => {
      const id = m.headers?.get("Nats-Msg-Id");
      if (id && !claimed.has(id)) claimed.set(id, tsOf(m));
    },
  });
  const queue = nc.subscribe(`${DELIVERIES_SUBJECT_PREFIX}.>`, {
    callback: (err, m) => {
      if (err) return;
      const id = (m.json() as { event?: { id?: string } }).event?.id;
      if (id && !enqueued.has(id)) enqueued.set(id, Date.now());
    },
  });
  return {
    results,
    enqueued,
    claimed,
    async close() {
      queue.unsubscribe();
      await Promise.all([resultsFeed.close(), claims.close()]);
    },
  };
}

/** The stages of one event, or the reason they cannot be told. */
function breakdown(
  trace: Trace,
  flipAt: number,
  event: { id: string; decidedAt: number; arrivedAt: number; down: boolean },
  hookId: string,
): Record<Stage, number> | string {
  const after = trace.results.filter((r) => r.ts > flipAt && r.ts <= event.decidedAt);
  const first = after.filter((r) => r.down === event.down).sort((a, b) => a.startedAt - b.startedAt)[0];
  const deciding = after.at(-1);
  const enqueued = trace.enqueued.get(event.id);
  const claimed = trace.claimed.get(`${event.id}:${hookId}`);
  if (!first || !deciding || enqueued === undefined || claimed === undefined) return "incomplete trace";
  const completed = deciding.startedAt + deciding.durationMs;
  return {
    schedule: first.startedAt - flipAt,
    threshold: deciding.startedAt - first.startedAt,
    probe: Math.round(deciding.durationMs),
    publish: Math.round(deciding.ts - completed),
    decide: event.decidedAt - deciding.ts,
    enqueue: enqueued - event.decidedAt,
    pickup: claimed - enqueued,
    deliver: event.arrivedAt - claimed,
  };
}

/**
 * Log lines worth seeing beside a slow cycle: warnings and errors, lease changes (logged at info) and an
 * agent's failed publishes (debug: LOG_LEVEL=debug shows them).
 */
const NOTABLE = new Set([
  "partition lease lost",
  "partition lease acquired",
  "publish failed",
  "connected to NATS",
  "outbox replayed; publishing directly again",
]);

/**
 * Counts, by program and message, the notable lines programs logged since `from` (output lengths,
 * taken with {@link outputMarks}), each with the time of its first one relative to `t0` (the flip):
 * a lost lease, a late scheduler, a retried enqueue explain a slow cycle.
 */
function notableLines(procs: Record<string, { output(): string }>, from: Record<string, number>, t0: number): string {
  const counts = new Map<string, { n: number; at?: number }>();
  for (const [name, proc] of Object.entries(procs)) {
    for (const line of proc
      .output()
      .slice(from[name] ?? 0)
      .split("\n")) {
      if (!line.startsWith("{")) continue;
      let l: { level?: number; time?: number; msg?: string; err?: { message?: string } | string };
      try {
        l = JSON.parse(line) as typeof l;
      } catch {
        continue;
      }
      if ((l.level ?? 0) < 40 && !NOTABLE.has(l.msg ?? "")) continue;
      const err = typeof l.err === "string" ? l.err : l.err?.message;
      const key = `${name}: ${l.msg}${err ? ` (${err.slice(0, 120)})` : ""}`;
      const c = counts.get(key) ?? { n: 0, at: l.time };
      c.n++;
      counts.set(key, c);
    }
  }
  return [...counts]
    .map(([k, c]) => `${k}${c.n > 1 ? ` ×${c.n}` : ""}${c.at !== undefined ? ` at ${c.at - t0} ms` : ""}`)
    .join("; ");
}

const outputMarks = (procs: Record<string, { output(): string }>) =>
  Object.fromEntries(Object.entries(procs).map(([name, p]) => [name, p.output().length]));

const fmtStages = (b: Record<Stage, number> | string) =>
  typeof b === "string" ? b : STAGES.map((s) => `${s} ${b[s]}`).join(" ");

interface Sample {
  ms: number;
  /** Arrived while ClickHouse was still stopped (hung mode). */
  duringHang: boolean;
  /** Where the time went, or why that could not be told. */
  stages: Record<Stage, number> | string;
}

/** A signed delivery of the bench's hook as the receiver got it. */
interface Arrival {
  at: number;
  id: string;
  decidedAt: number;
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
  const mesh = await startMesh({ regions: REGIONS, env: { PROBEMESH_LOG_LEVEL: LOG_LEVEL } });
  const { cp } = mesh;
  let nc: NatsConnection | undefined;
  let trace: Trace | undefined;
  const samples: Record<Mode, { opened: Sample[]; resolved: Sample[] }> = {
    healthy: { opened: [], resolved: [] },
    hung: { opened: [], resolved: [] },
  };
  try {
    nc = await mesh.secureNats!.connect();
    const t = (trace = await traceDecisionPath(nc, "web"));
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
    const arrived = (type: string, after: number) => (): Arrival | undefined => {
      for (const r of receiver.received) {
        if (r.at < after) continue;
        const e = verifyWebhook<{ id: string; type: string; data: { confirmedAt?: number; resolvedAt?: number } }>(
          secret,
          r.headers as Record<string, string>,
          r.body,
        );
        if (e.type !== type) continue;
        return {
          at: r.at,
          id: e.id,
          decidedAt: (type === "outage.opened" ? e.data.confirmedAt : e.data.resolvedAt) ?? NaN,
        };
      }
      return undefined;
    };
    // Every region, not just the verdict: a majority is up while one agent still connects to NATS (its
    // results wait in its outbox), and a cycle measured then decides on two regions only.
    const upEverywhere = async () => {
      const s = (await (await cp.request("/v1/checks/web/status")).json()) as {
        state: string;
        regions?: Record<string, { state: string }>;
      };
      return s.state === "up" && REGIONS.every((r) => s.regions?.[r]?.state === "up");
    };
    await waitFor("check up in every region", upEverywhere, 60_000, 200);

    // The trace of an event is complete well before its webhook arrives; read it after a short margin.
    const settle = () => new Promise((r) => setTimeout(r, 100));
    const procs = {
      cp: cp.proc,
      ...Object.fromEntries(mesh.agents.map((a) => [a.region, a.proc])),
    };
    let marks = outputMarks(procs);
    // Flip times of the cycles so far (down, back): logged lines are timed from the last down flip.
    const flips: number[] = [];
    const cycle = async (mode: Mode, hangEndsAt: () => number) => {
      const failedAt = Date.now();
      flips.push(failedAt);
      target.healthy = false;
      const opened = await waitFor("outage.opened", arrived("outage.opened", failedAt), 30_000, 20);
      const openedDuringHang = opened.at < hangEndsAt();
      await new Promise((r) => setTimeout(r, Math.random() * 1000));
      const backAt = Date.now();
      flips.push(backAt);
      target.healthy = true;
      const resolved = await waitFor("outage.resolved", arrived("outage.resolved", backAt), 30_000, 20);
      const resolvedDuringHang = resolved.at < hangEndsAt();
      await settle();
      samples[mode].opened.push({
        ms: opened.at - failedAt,
        duringHang: openedDuringHang,
        stages: breakdown(t, failedAt, { ...opened, arrivedAt: opened.at, down: true }, "bench"),
      });
      samples[mode].resolved.push({
        ms: resolved.at - backAt,
        duringHang: resolvedDuringHang,
        stages: breakdown(t, backAt, { ...resolved, arrivedAt: resolved.at, down: false }, "bench"),
      });
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
        await waitFor("check up in every region", upEverywhere, 60_000, 200);
        const o = samples[mode].opened.at(-1)!;
        const r = samples[mode].resolved.at(-1)!;
        const note = (s: Sample) => (mode === "hung" && !s.duringHang ? " (after SIGCONT)" : "");
        process.stdout.write(
          `run ${run}/${RUNS} ClickHouse ${mode}: down -> outage.opened ${o.ms} ms${note(o)}; back -> outage.resolved ${r.ms} ms${note(r)}\n` +
            `  opened:   ${fmtStages(o.stages)}\n  resolved: ${fmtStages(r.stages)}\n`,
        );
        const notable = notableLines(procs, marks, flips.at(-2) ?? 0);
        marks = outputMarks(procs);
        if (notable) process.stdout.write(`  logged:   ${notable}\n`);
      }
    }
  } finally {
    await trace?.close().catch(() => undefined);
    await nc?.close().catch(() => undefined);
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
  process.stdout.write(`\nstages, ms (p50 / p99 / max)\n${"".padEnd(12)}`);
  const columns = (["healthy", "hung"] as const).flatMap((mode) =>
    (["opened", "resolved"] as const).map((key) => ({ label: `${mode} ${key}`, xs: samples[mode][key] })),
  );
  process.stdout.write(`${columns.map((c) => c.label.padEnd(22)).join("")}\n`);
  for (const stage of [...STAGES, "total"] as const) {
    const cells = columns.map(({ xs }) => {
      const s = xs
        .map((x) => (stage === "total" ? x.ms : typeof x.stages === "string" ? NaN : x.stages[stage]))
        .filter((v) => Number.isFinite(v))
        .sort((a, b) => a - b);
      return `${quantile(s, 0.5)} / ${quantile(s, 0.99)} / ${s.at(-1)}`.padEnd(22);
    });
    process.stdout.write(`${stage.padEnd(12)}${cells.join("")}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
