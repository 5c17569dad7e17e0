/**
 * Benchmark (not a test): agent CPU seconds per 1,000 HTTP probes and RSS at 1,000 active checks,
 * side by side with Prometheus blackbox_exporter doing the same probes against the same local
 * target in the same run. Every process it starts is its own child, stopped by its handle.
 *
 *   node agent/dist/bench/probe-bench.js [--probes 1000] [--checks 1000] [--interval-ms 10000] [--hold-s 30]
 *
 * Roles (internal): `--role target` serves the HTTP target; `--role agent-cpu` and
 * `--role agent-rss` run the probers in a clean process so their numbers are theirs alone.
 */
import { create } from "@bufbuild/protobuf";
import { CheckSchema, HttpCheckSchema } from "@probemesh/proto";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createProbers } from "../probes/index.js";
import { createScheduler } from "../schedule/scheduler.js";
import { cpuSeconds, rssBytes } from "./proc-stats.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const num = (k: string, d: number) => (args.has(k) ? Number(args.get(k)) : d);
const PROBES = num("probes", 1000);
const CHECKS = num("checks", 1000);
const INTERVAL_MS = num("interval-ms", 10_000);
const HOLD_S = num("hold-s", 30);
const CONCURRENCY = num("concurrency", 20);
const BLACKBOX = args.get("blackbox") ?? "prometheus-blackbox-exporter";

const emit = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function httpCheck(id: string, url: string) {
  return create(CheckSchema, { id, type: "http", intervalMs: INTERVAL_MS, timeoutMs: 5000, http: create(HttpCheckSchema, { url }) });
}

/** Role: the HTTP target, in its own process so its CPU is nobody's probe cost. */
async function roleTarget(): Promise<void> {
  const body = Buffer.from('{"status":"ok"}');
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
  server.listen(0, "127.0.0.1", () => emit({ port: (server.address() as AddressInfo).port }));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

/** Role: PROBES probes through the probers at a fixed concurrency; reports this process's CPU. */
async function roleAgentCpu(url: string): Promise<void> {
  const http = createProbers().get("http")!;
  const check = httpCheck("bench", url);
  // Warm up JIT and modules, as a long-running agent is.
  for (let i = 0; i < 50; i++) await http.run(check, { signal: new AbortController().signal, timeoutMs: 5000 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < PROBES) {
      next++;
      const [o] = await http.run(check, { signal: new AbortController().signal, timeoutMs: 5000 });
      if (o?.state === "down") failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const cpu = process.cpuUsage(cpu0);
  emit({ cpuSeconds: (cpu.user + cpu.system) / 1e6, wallMs: performance.now() - t0, failures });
}

/** Role: CHECKS checks on the agent's real scheduler for HOLD_S seconds; reports RSS samples. */
async function roleAgentRss(url: string): Promise<void> {
  const log = pino({ level: "warn" });
  let results = 0;
  let failures = 0;
  const scheduler = createScheduler({
    agentId: "bench-agent",
    probers: createProbers(),
    maxConcurrency: 64,
    log,
    onResult: (r) => {
      results++;
      if (r.outcome.state === "down") failures++;
    },
  });
  for (let i = 0; i < CHECKS; i++) scheduler.upsert(httpCheck(`c${i}`, `${url}?i=${i}`));
  let maxRss = 0;
  const cpu0 = process.cpuUsage();
  for (let s = 0; s < HOLD_S; s++) {
    await sleep(1000);
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
  }
  const cpu = process.cpuUsage(cpu0);
  const mem = process.memoryUsage();
  await scheduler.stop({ waitMs: 2000 });
  emit({ maxRss, finalRss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external, results, failures, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
}

/** Starts this script in another role and returns its first JSON line. */
function startRole(role: string, extra: string[] = []): { child: ChildProcess; first: Promise<Record<string, number>> } {
  const nodeFlags = role.startsWith("agent") && args.get("agent-node-flags") ? args.get("agent-node-flags")!.split(" ") : [];
  const child = spawn(process.execPath, [...nodeFlags, fileURLToPath(import.meta.url), "--role", role, ...extra, ...[...args].filter(([k]) => k !== "role" && k !== "url").flatMap(([k, v]) => [`--${k}`, v])], { stdio: ["ignore", "pipe", "inherit"] });
  const first = new Promise<Record<string, number>>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)) as Record<string, number>);
    });
    child.once("exit", (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  return { child, first };
}

async function blackboxProbe(base: string, target: string): Promise<boolean> {
  const res = await fetch(`${base}/probe?module=http_2xx&target=${encodeURIComponent(target)}`);
  return /^probe_success 1/m.test(await res.text());
}

async function main(): Promise<void> {
  const role = args.get("role");
  if (role === "target") return roleTarget();
  if (role === "agent-cpu") return roleAgentCpu(args.get("url")!);
  if (role === "agent-rss") return roleAgentRss(args.get("url")!);

  const dir = mkdtempSync(join(tmpdir(), "probemesh-bench-"));
  const children: ChildProcess[] = [];
  try {
    const target = startRole("target");
    children.push(target.child);
    const url = `http://127.0.0.1:${(await target.first).port}/ok`;

    writeFileSync(join(dir, "blackbox.yml"), JSON.stringify({ modules: { http_2xx: { prober: "http", timeout: "5s", http: { preferred_ip_protocol: "ip4" } } } }));
    const bbPort = await freePort();
    const bb = spawn(BLACKBOX, [`--config.file=${join(dir, "blackbox.yml")}`, `--web.listen-address=127.0.0.1:${bbPort}`, "--log.level=warn"], { stdio: "ignore" });
    children.push(bb);
    const bbBase = `http://127.0.0.1:${bbPort}`;
    for (let i = 0; ; i++) {
      if (i > 100) throw new Error("blackbox_exporter did not start");
      try {
        await fetch(`${bbBase}/metrics`);
        break;
      } catch {
        await sleep(100);
      }
    }

    // 1. CPU per 1,000 probes.
    const agentCpu = startRole("agent-cpu", ["--url", url]);
    children.push(agentCpu.child);
    const a = await agentCpu.first;
    for (let i = 0; i < 50; i++) await blackboxProbe(bbBase, url);
    const bbCpu0 = cpuSeconds(bb.pid!);
    const t0 = performance.now();
    let next = 0;
    let bbFailures = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PROBES) {
          next++;
          if (!(await blackboxProbe(bbBase, url))) bbFailures++;
        }
      }),
    );
    const bbCpu = cpuSeconds(bb.pid!) - bbCpu0;
    const bbWall = performance.now() - t0;

    // 2. RSS at CHECKS active checks, same probe rate for both.
    const agentRss = startRole("agent-rss", ["--url", url]);
    children.push(agentRss.child);
    const rate = (CHECKS * 1000) / INTERVAL_MS; // probes per second
    let bbMaxRss = rssBytes(bb.pid!);
    let bbRssProbes = 0;
    const until = performance.now() + HOLD_S * 1000;
    const inflight = new Set<Promise<void>>();
    let k = 0;
    while (performance.now() < until) {
      const tick = performance.now();
      for (let j = 0; j < rate / 10 && inflight.size < 256; j++) {
        const p = blackboxProbe(bbBase, `${url}?i=${k++ % CHECKS}`).then(() => void bbRssProbes++, () => void bbRssProbes++);
        const tracked = p.finally(() => inflight.delete(tracked));
        inflight.add(tracked);
      }
      bbMaxRss = Math.max(bbMaxRss, rssBytes(bb.pid!));
      await sleep(Math.max(0, 100 - (performance.now() - tick)));
    }
    await Promise.all(inflight);
    const r = await agentRss.first;

    const perK = (cpu: number) => (cpu / PROBES) * 1000;
    const mb = (b: number) => b / 1024 / 1024;
    const summary = {
      probes: PROBES,
      concurrency: CONCURRENCY,
      agentCpuSecondsPer1000: +perK(a.cpuSeconds!).toFixed(3),
      blackboxCpuSecondsPer1000: +perK(bbCpu).toFixed(3),
      cpuRatioAgentOverBlackbox: +(a.cpuSeconds! / bbCpu).toFixed(2),
      agentWallMs: Math.round(a.wallMs!),
      blackboxWallMs: Math.round(bbWall),
      agentFailures: a.failures,
      blackboxFailures: bbFailures,
      activeChecks: CHECKS,
      intervalMs: INTERVAL_MS,
      holdSeconds: HOLD_S,
      agentMaxRssMB: +mb(r.maxRss!).toFixed(1),
      agentHeapUsedMB: +mb(r.heapUsed!).toFixed(1),
      agentHeapTotalMB: +mb(r.heapTotal!).toFixed(1),
      agentNodeFlags: args.get("agent-node-flags") ?? "",
      blackboxMaxRssMB: +mb(bbMaxRss).toFixed(1),
      rssRatioAgentOverBlackbox: +(r.maxRss! / bbMaxRss).toFixed(2),
      agentResultsInHold: r.results,
      agentFailuresInHold: r.failures,
      blackboxProbesInHold: bbRssProbes,
    };
    emit(summary);
    process.stderr.write(
      [
        `CPU per 1,000 HTTP probes: agent ${summary.agentCpuSecondsPer1000} s, blackbox_exporter ${summary.blackboxCpuSecondsPer1000} s (ratio ${summary.cpuRatioAgentOverBlackbox})`,
        `RSS at ${CHECKS} active checks (${rate}/s for ${HOLD_S} s): agent ${summary.agentMaxRssMB} MB, blackbox_exporter ${summary.blackboxMaxRssMB} MB (ratio ${summary.rssRatioAgentOverBlackbox})`,
        "",
      ].join("\n"),
    );
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
