/**
 * Benchmark (not a test): agent CPU seconds per 1,000 HTTP probes and RSS at 1,000 active checks,
 * side by side with Prometheus blackbox_exporter doing the same probes against the same local
 * target in the same run. Every process it starts is its own child, stopped by its handle.
 *
 *   node agent/dist/bench/probe-bench.js [--probes 1000] [--checks 1000] [--interval-ms 10000]
 *     [--hold-s 30] [--concurrency 20] [--agent-node-flags "..."]
 *
 * 1. Prober path: PROBES probes through the HTTP prober alone, in a clean process, at a fixed
 *    concurrency (role `agent-cpu`); blackbox_exporter does the same probes.
 * 2. Real agent: the agent bin as deployed (`node agent/dist/main.js`: pino, the grpc-js
 *    assignment client, the NATS publisher and disk outbox) gets CHECKS HTTP checks from a fake
 *    control plane and publishes to a real nats-server's JetStream. After one interval of warm-up
 *    its CPU and RSS are read from /proc for HOLD_S seconds while blackbox_exporter probes the
 *    same targets at the same rate.
 * 3. For reference, the RSS of an idle `node` with nothing loaded (most of it the binary's own pages).
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  CheckSchema,
  HttpCheckSchema,
  ProbeResultSchema,
  ProbeState,
  RESULTS_STREAM,
  RESULTS_SUBJECT_ALL,
} from "@probemesh/proto";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "../sleep.js";
import { createProbers } from "../probes/index.js";
import { startFakeControlPlane } from "../testing/fake-control-plane.js";
import { cpuSeconds, rssSample, threadCpu, threadCpuDelta, type RssSample } from "./proc-stats.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const num = (k: string, d: number) => (args.has(k) ? Number(args.get(k)) : d);
const PROBES = num("probes", 1000);
const CHECKS = num("checks", 1000);
const INTERVAL_MS = num("interval-ms", 10_000);
const HOLD_S = num("hold-s", 30);
const CONCURRENCY = num("concurrency", 20);
const BLACKBOX = args.get("blackbox") ?? "prometheus-blackbox-exporter";
const NATS_SERVER = args.get("nats-server") ?? "nats-server";
const AGENT_NODE_FLAGS = (args.get("agent-node-flags") ?? "").split(" ").filter((f) => f !== "");
const AGENT_MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
const TOKEN = "bench-token";

const emit = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
const mb = (b: number) => +(b / 1024 / 1024).toFixed(1);

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
  return create(CheckSchema, {
    id,
    version: 1,
    type: "http",
    intervalMs: INTERVAL_MS,
    timeoutMs: 5000,
    http: create(HttpCheckSchema, { url }),
  });
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

/** Role: PROBES probes through the HTTP prober at a fixed concurrency; reports this process's CPU. */
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

/** Starts this script in another role and returns its first JSON line. */
function startRole(
  role: string,
  extra: string[] = [],
): { child: ChildProcess; first: Promise<Record<string, number>> } {
  const nodeFlags = role.startsWith("agent") ? AGENT_NODE_FLAGS : [];
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      fileURLToPath(import.meta.url),
      "--role",
      role,
      ...extra,
      ...[...args].filter(([k]) => k !== "role" && k !== "url").flatMap(([k, v]) => [`--${k}`, v]),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
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

/** Keeps the last lines a child wrote, to show why it failed. */
function tail(child: ChildProcess, keep = 20): () => string {
  const lines: string[] = [];
  const add = (c: Buffer) => {
    lines.push(
      ...c
        .toString()
        .split("\n")
        .filter((l) => l !== ""),
    );
    lines.splice(0, Math.max(0, lines.length - keep));
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => lines.join("\n");
}

async function startNats(dir: string, children: ChildProcess[]): Promise<NatsConnection> {
  const port = await freePort();
  const child = spawn(NATS_SERVER, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", join(dir, "nats")], {
    stdio: "ignore",
  });
  children.push(child);
  for (let i = 0; ; i++) {
    if (i > 100 || child.exitCode !== null) throw new Error("nats-server did not start");
    try {
      return await connect({ servers: `nats://127.0.0.1:${port}` });
    } catch {
      await sleep(100);
    }
  }
}

/** RSS of an idle `node` with nothing loaded: the floor under any Node 20 program on this machine. */
async function nodeFloor(): Promise<RssSample> {
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 5000)"], { stdio: "ignore" });
  try {
    await sleep(1000);
    return rssSample(child.pid!);
  } finally {
    child.kill("SIGTERM");
  }
}

/** Mean of the middle half of the values: a steady level without start-up or GC spikes. */
function steady(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.slice(Math.floor(sorted.length / 4), Math.ceil((sorted.length * 3) / 4));
  return mid.reduce((a, b) => a + b, 0) / mid.length;
}

interface RealAgentRun {
  agentCpuSeconds: number;
  agentThreads: Record<string, { user: number; system: number }>;
  agentResults: number;
  agentFailures: number;
  agentMaxRss: RssSample;
  agentSteady: RssSample;
  agentExitCode: number | null;
  streamMessages: number;
  blackboxCpuSeconds: number;
  blackboxProbes: number;
  blackboxFailures: number;
  blackboxMaxRss: number;
  blackboxSteadyRss: number;
  windowS: number;
}

/** Phase 2: the agent bin at CHECKS checks beside blackbox_exporter at the same probe rate. */
async function realAgent(
  dir: string,
  url: string,
  bb: ChildProcess,
  bbBase: string,
  children: ChildProcess[],
): Promise<RealAgentRun> {
  const nc = await startNats(dir, children);
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: RESULTS_STREAM, subjects: [RESULTS_SUBJECT_ALL] });
    let results = 0;
    let failures = 0;
    let firstResult: (() => void) | undefined;
    const first = new Promise<void>((r) => (firstResult = r));
    const sub = nc.subscribe(RESULTS_SUBJECT_ALL);
    void (async () => {
      for await (const m of sub) {
        const r = fromBinary(ProbeResultSchema, m.data);
        results++;
        if (r.state === ProbeState.DOWN) failures++;
        firstResult?.();
      }
    })();

    const cp = await startFakeControlPlane({
      checks: Array.from({ length: CHECKS }, (_, i) => httpCheck(`c${i}`, `${url}?i=${i}`)),
      token: TOKEN,
    });
    try {
      const agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, AGENT_MAIN], {
        env: {
          ...process.env,
          PROBEMESH_AGENT_ID: "bench-agent",
          PROBEMESH_REGION: "bench",
          PROBEMESH_PROVIDER: "bench",
          PROBEMESH_GRPC_ADDR: cp.addr,
          PROBEMESH_NATS_URL: nc.getServer(),
          PROBEMESH_AGENT_TOKEN: TOKEN,
          PROBEMESH_STATE_DIR: join(dir, "agent-state"),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(agent);
      const agentLog = tail(agent);
      const exited = new Promise<number | null>((resolve) => agent.once("exit", (code) => resolve(code)));
      const pid = agent.pid!;
      process.stderr.write(`agent bin started, pid ${pid}\n`);

      let agentMax: RssSample = { rss: 0, anon: 0, file: 0 };
      let bbMax = 0;
      const window: { agent: RssSample[]; bb: number[] } = { agent: [], bb: [] };
      let inWindow = false;
      const sample = () => {
        const a = rssSample(pid);
        if (a.rss > agentMax.rss) agentMax = a;
        const b = rssSample(bb.pid!).rss;
        bbMax = Math.max(bbMax, b);
        if (inWindow) {
          window.agent.push(a);
          window.bb.push(b);
        }
      };

      const startup = await Promise.race([
        first.then(() => "ok" as const),
        exited.then(() => "exited" as const),
        sleep(30_000).then(() => "timeout" as const),
      ]);
      if (startup !== "ok")
        throw new Error(`the agent produced no result (${startup}); its last lines:\n${agentLog()}`);

      // blackbox_exporter gets the same probe rate over the same CHECKS targets from now on.
      const rate = (CHECKS * 1000) / INTERVAL_MS;
      let bbProbes = 0;
      let bbFailures = 0;
      let k = 0;
      const inflight = new Set<Promise<void>>();
      const drive = async (ms: number) => {
        const until = performance.now() + ms;
        while (performance.now() < until) {
          const tick = performance.now();
          for (let j = 0; j < rate / 10 && inflight.size < 256; j++) {
            const p = blackboxProbe(bbBase, `${url}?i=${k++ % CHECKS}`).then(
              (ok) => {
                bbProbes++;
                if (!ok) bbFailures++;
              },
              () => {
                bbProbes++;
                bbFailures++;
              },
            );
            const tracked = p.finally(() => inflight.delete(tracked));
            inflight.add(tracked);
          }
          sample();
          await sleep(Math.max(0, 100 - (performance.now() - tick)));
        }
      };

      // Warm-up: one interval, so every check has run once and both processes are at their rate.
      await drive(INTERVAL_MS);
      inWindow = true;
      const agentCpu0 = cpuSeconds(pid);
      const agentThreads0 = threadCpu(pid);
      const bbCpu0 = cpuSeconds(bb.pid!);
      const results0 = results;
      const failures0 = failures;
      const bbProbes0 = bbProbes;
      const bbFailures0 = bbFailures;
      const t0 = performance.now();
      await drive(HOLD_S * 1000);
      const agentCpu = cpuSeconds(pid) - agentCpu0;
      const agentThreads = threadCpuDelta(agentThreads0, threadCpu(pid));
      const bbCpu = cpuSeconds(bb.pid!) - bbCpu0;
      const windowS = (performance.now() - t0) / 1000;
      const windowResults = results - results0;
      const windowFailures = failures - failures0;
      const windowBbProbes = bbProbes - bbProbes0;
      const windowBbFailures = bbFailures - bbFailures0;
      await Promise.all(inflight);
      if (agent.exitCode !== null)
        throw new Error(`the agent exited with ${agent.exitCode}; its last lines:\n${agentLog()}`);

      agent.kill("SIGTERM");
      const exitCode = await Promise.race([exited, sleep(20_000).then(() => -1)]);
      const streamMessages = (await jsm.streams.info(RESULTS_STREAM)).state.messages;
      const a = window.agent;
      return {
        agentCpuSeconds: agentCpu,
        agentThreads,
        agentResults: windowResults,
        agentFailures: windowFailures,
        agentMaxRss: agentMax,
        agentSteady: {
          rss: steady(a.map((s) => s.rss)),
          anon: steady(a.map((s) => s.anon)),
          file: steady(a.map((s) => s.file)),
        },
        agentExitCode: exitCode,
        streamMessages,
        blackboxCpuSeconds: bbCpu,
        blackboxProbes: windowBbProbes,
        blackboxFailures: windowBbFailures,
        blackboxMaxRss: bbMax,
        blackboxSteadyRss: steady(window.bb),
        windowS,
      };
    } finally {
      cp.stop();
    }
  } finally {
    await nc.close();
  }
}

async function main(): Promise<void> {
  const role = args.get("role");
  if (role === "target") return roleTarget();
  if (role === "agent-cpu") return roleAgentCpu(args.get("url")!);

  const dir = mkdtempSync(join(tmpdir(), "probemesh-bench-"));
  const children: ChildProcess[] = [];
  try {
    const target = startRole("target");
    children.push(target.child);
    const url = `http://127.0.0.1:${(await target.first).port}/ok`;

    writeFileSync(
      join(dir, "blackbox.yml"),
      JSON.stringify({
        modules: { http_2xx: { prober: "http", timeout: "5s", http: { preferred_ip_protocol: "ip4" } } },
      }),
    );
    const bbPort = await freePort();
    const bb = spawn(
      BLACKBOX,
      [`--config.file=${join(dir, "blackbox.yml")}`, `--web.listen-address=127.0.0.1:${bbPort}`, "--log.level=warn"],
      { stdio: "ignore" },
    );
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

    // 1. Prober path: CPU per 1,000 probes at a fixed concurrency.
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

    // 2. The real agent at CHECKS active checks, same probe rate for both.
    const r = await realAgent(dir, url, bb, bbBase, children);
    const floor = await nodeFloor();

    const perK = (cpu: number, probes: number) => +((cpu / probes) * 1000).toFixed(3);
    const summary = {
      probes: PROBES,
      concurrency: CONCURRENCY,
      agentNodeFlags: AGENT_NODE_FLAGS.join(" "),
      proberCpuSecondsPer1000: perK(a.cpuSeconds!, PROBES),
      proberBlackboxCpuSecondsPer1000: perK(bbCpu, PROBES),
      proberCpuRatio: +(a.cpuSeconds! / bbCpu).toFixed(2),
      proberWallMs: Math.round(a.wallMs!),
      proberBlackboxWallMs: Math.round(bbWall),
      proberFailures: a.failures,
      proberBlackboxFailures: bbFailures,
      activeChecks: CHECKS,
      intervalMs: INTERVAL_MS,
      windowSeconds: +r.windowS.toFixed(1),
      agentResults: r.agentResults,
      agentFailures: r.agentFailures,
      agentCpuSecondsPer1000: perK(r.agentCpuSeconds, r.agentResults),
      agentThreadCpuSeconds: r.agentThreads,
      blackboxProbes: r.blackboxProbes,
      blackboxFailures: r.blackboxFailures,
      blackboxCpuSecondsPer1000: perK(r.blackboxCpuSeconds, r.blackboxProbes),
      cpuRatioAgentOverBlackbox: +(
        r.agentCpuSeconds /
        r.agentResults /
        (r.blackboxCpuSeconds / r.blackboxProbes)
      ).toFixed(2),
      agentMaxRssMB: mb(r.agentMaxRss.rss),
      agentSteadyRssMB: mb(r.agentSteady.rss),
      agentSteadyAnonMB: mb(r.agentSteady.anon),
      agentSteadyFileMB: mb(r.agentSteady.file),
      blackboxMaxRssMB: mb(r.blackboxMaxRss),
      blackboxSteadyRssMB: mb(r.blackboxSteadyRss),
      rssRatioAgentOverBlackbox: +(r.agentMaxRss.rss / r.blackboxMaxRss).toFixed(2),
      streamMessages: r.streamMessages,
      agentExitCode: r.agentExitCode,
      idleNodeRssMB: mb(floor.rss),
      idleNodeAnonMB: mb(floor.anon),
      idleNodeFileMB: mb(floor.file),
    };
    emit(summary);
    const rate = (CHECKS * 1000) / INTERVAL_MS;
    process.stderr.write(
      [
        `Prober path, CPU per 1,000 HTTP probes at concurrency ${CONCURRENCY}: agent ${summary.proberCpuSecondsPer1000} s, blackbox_exporter ${summary.proberBlackboxCpuSecondsPer1000} s (ratio ${summary.proberCpuRatio})`,
        `Agent bin (node ${[...AGENT_NODE_FLAGS, "agent/dist/main.js"].join(" ")}), ${CHECKS} active HTTP checks (${rate}/s), ${summary.windowSeconds} s after ${INTERVAL_MS / 1000} s warm-up:`,
        `  CPU per 1,000 probes: agent ${summary.agentCpuSecondsPer1000} s (${r.agentResults} results, ${r.agentFailures} down), blackbox_exporter ${summary.blackboxCpuSecondsPer1000} s (${r.blackboxProbes} probes) (ratio ${summary.cpuRatioAgentOverBlackbox})`,
        `  agent CPU by thread (user/system s): ${Object.entries(r.agentThreads)
          .filter(([, t]) => t.user + t.system > 0)
          .map(([n, t]) => `${n} ${t.user}/${t.system}`)
          .join(", ")}`,
        `  RSS: agent max ${summary.agentMaxRssMB} MB, steady ${summary.agentSteadyRssMB} MB (anon ${summary.agentSteadyAnonMB}, file ${summary.agentSteadyFileMB}); blackbox_exporter max ${summary.blackboxMaxRssMB} MB, steady ${summary.blackboxSteadyRssMB} MB (max ratio ${summary.rssRatioAgentOverBlackbox})`,
        `  results in JetStream: ${r.streamMessages}; agent exit code after SIGTERM: ${r.agentExitCode}`,
        `Idle \`node\` (nothing loaded) for reference: RSS ${summary.idleNodeRssMB} MB (anon ${summary.idleNodeAnonMB}, file ${summary.idleNodeFileMB})`,
        "",
      ].join("\n"),
    );
  } finally {
    const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of live) c.kill("SIGTERM");
    await Promise.race([Promise.all(live.map((c) => new Promise((r) => c.once("exit", r)))), sleep(5000)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
