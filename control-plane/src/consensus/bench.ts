#!/usr/bin/env node
// Consensus engine benchmark (not a test): N checks x R regions of synthetic results on a simulated
// clock, bounded in rounds and wall time. Prints results/s per core, memory, and decision latency.
// Run: node control-plane/dist/consensus/bench.js [--checks 10000] [--regions 10] [--rounds 12] [--max-seconds 120]
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createConsensusEngine } from "./engine.js";
import type { Observation, Transition } from "./types.js";

const { values } = parseArgs({
  options: {
    checks: { type: "string", default: "10000" },
    regions: { type: "string", default: "10" },
    rounds: { type: "string", default: "12" },
    "interval-ms": { type: "string", default: "30000" },
    "max-seconds": { type: "string", default: "120" },
  },
});
const CHECKS = positive(values.checks, "checks");
const REGIONS = positive(values.regions, "regions");
const ROUNDS = positive(values.rounds, "rounds");
const INTERVAL = positive(values["interval-ms"], "interval-ms");
const MAX_MS = positive(values["max-seconds"], "max-seconds") * 1000;

function positive(raw: string | undefined, name: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`--${name} must be a positive integer\n`);
    process.exit(2);
  }
  return n;
}

const regions = Array.from({ length: REGIONS }, (_, i) => `region-${i}`);
// Scenario: 1 % of the checks are really down in a majority of regions from round 3 to round 6;
// one agent (last region) loses its network in rounds 8-9 and must be impaired, not cause outages.
const outageChecks = new Set(Array.from({ length: Math.max(1, Math.floor(CHECKS / 100)) }, (_, i) => i * 100));
const quorumRegions = Math.floor(REGIONS / 2) + 1;
const brokenRegion = REGIONS - 1;

function stateOf(check: number, region: number, round: number): "up" | "down" {
  if (round >= 3 && round <= 6 && outageChecks.has(check) && region < quorumRegions) return "down";
  if (round >= 8 && round <= 9 && region === brokenRegion) return "down";
  return "up";
}

const START = Date.UTC(2026, 0, 1);
let clock = START;
const engine = createConsensusEngine({
  now: () => clock,
  checks: Array.from({ length: CHECKS }, (_, i) => ({
    checkId: `check-${i}`,
    intervalMs: INTERVAL,
    timeoutMs: 5_000,
    regions,
  })),
});

/** One round's results, spread evenly over the interval as phase offsets spread them in the mesh. */
function roundResults(round: number): Observation[] {
  const out: Observation[] = new Array<Observation>(CHECKS * REGIONS);
  const step = INTERVAL / (CHECKS * REGIONS);
  let k = 0;
  for (let c = 0; c < CHECKS; c++) {
    for (let r = 0; r < REGIONS; r++) {
      const state = stateOf(c, r, round);
      out[k] = {
        checkId: `check-${c}`,
        agentId: `agent-${r}`,
        region: regions[r]!,
        // Interleave regions so each check's results arrive spread over the round.
        startedAt: START + round * INTERVAL + Math.floor((r * CHECKS + c) * step),
        durationMs: 40,
        state,
        reason: state === "down" ? "connect" : "",
        canary: false,
      };
      k++;
    }
  }
  return out.sort((a, b) => a.startedAt - b.startedAt);
}

const latencies: number[] = [];
const detection: number[] = [];
const counts = new Map<string, number>();
let fed = 0;
let engineMs = 0;
let slowestCallMs = 0;
let slowestCallWhat = "";
const wallStart = performance.now();
const cpuStart = process.cpuUsage();
let roundsDone = 0;

function count(ts: Transition[], completedAt: number, callMs: number, call: "tick" | "observe"): void {
  for (const t of ts) {
    counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
    if (t.type === "outage.opened") {
      // Engine time from the result that completed the quorum to the verdict (0 = decided on arrival).
      latencies.push(t.outage.confirmedAt - completedAt);
      detection.push(t.outage.confirmedAt - t.outage.startedAt);
    }
  }
  if (callMs > slowestCallMs) {
    slowestCallMs = callMs;
    slowestCallWhat = `${call}: ${
      ts
        .map((t) => t.type)
        .filter((x, i, a) => a.indexOf(x) === i)
        .join(",") || "no transition"
    }`;
  }
}

const verdictCallMs: number[] = [];
for (let round = 0; round < ROUNDS && performance.now() - wallStart < MAX_MS; round++) {
  const results = roundResults(round);
  let nextTick = START + round * INTERVAL + 1000;
  const t0 = performance.now();
  for (const r of results) {
    const done = r.startedAt + r.durationMs;
    while (nextTick <= done) {
      clock = nextTick;
      const a = performance.now();
      const ts = engine.tick();
      count(ts, clock, performance.now() - a, "tick");
      nextTick += 1000;
    }
    clock = done;
    const a = performance.now();
    const ts = engine.observe(r);
    const ms = performance.now() - a;
    if (ts.some((t) => t.type === "outage.opened")) verdictCallMs.push(ms);
    count(ts, done, ms, "observe");
    fed++;
  }
  engineMs += performance.now() - t0;
  roundsDone++;
}
const cpu = process.cpuUsage(cpuStart);
const wallMs = performance.now() - wallStart;
(globalThis as { gc?: () => void }).gc?.();
const mem = process.memoryUsage();

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const cpuSec = (cpu.user + cpu.system) / 1e6;
const stats = engine.stats();
const lines = [
  `consensus bench: ${CHECKS} checks x ${REGIONS} regions, interval ${INTERVAL} ms, ${roundsDone} rounds (${fed} results)`,
  `node ${process.version}, ${process.platform}/${process.arch}`,
  `throughput: ${Math.round(fed / cpuSec)} results/s per core (CPU ${cpuSec.toFixed(2)} s incl. generating results; engine wall ${(engineMs / 1000).toFixed(2)} s -> ${Math.round(fed / (engineMs / 1000))} results/s)`,
  `memory: rss ${mb(mem.rss)}, heap used ${mb(mem.heapUsed)}${(globalThis as { gc?: unknown }).gc ? " (after gc)" : " (run with --expose-gc for a post-gc figure)"}, ${stats.views} (check, agent) views`,
  `decision latency (engine time, last needed result -> verdict): p50 ${pct(latencies, 50)} ms, max ${pct(latencies, 100)} ms over ${latencies.length} outages`,
  `decision latency (processing of that result): p50 ${pct(verdictCallMs, 50).toFixed(3)} ms, p99 ${pct(verdictCallMs, 99).toFixed(3)} ms, max ${pct(verdictCallMs, 100).toFixed(3)} ms`,
  `detection time (first failing observation -> confirmed, set by failureThreshold x interval): p50 ${pct(detection, 50)} ms`,
  `slowest single call: ${slowestCallMs.toFixed(1)} ms (${slowestCallWhat})`,
  `transitions: ${[...counts]
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`,
  `wall ${(wallMs / 1000).toFixed(1)} s`,
];
process.stdout.write(`${lines.join("\n")}\n`);
