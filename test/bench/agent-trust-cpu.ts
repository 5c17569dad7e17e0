// Benchmark (not a test): the agent's CPU per 1,000 probes without and with the trust work, side by
// side in one run. Two meshes stay up the whole time, started from the built programs:
//   plaintext: plain nats-server, plaintext gRPC/HTTP control plane, enrolled agents without NATS credentials;
//   secure:    operator-mode NATS with TLS, TLS gRPC and HTTPS, agents with NATS credentials minted by the control plane.
// Both hold the same CHECKS TCP checks (1 s interval) against one local listener. Each round runs a
// fresh enrolled agent (agent/dist/main.js) on the plaintext mesh, then one on the secure mesh (the
// order flips every round), lets it warm up, then measures its utime+stime from /proc/<pid>/stat over
// a fixed window and divides by the results it published in that window (counted from the results
// API by agent id and start time). Medians, ratio and the spread of single runs are printed.
//
//   pnpm bench:agent-trust      # defaults ROUNDS=3 WINDOW_S=12 WARMUP_S=4 CHECKS=50: ~3 min, plus stopping ClickHouse
//   ROUNDS=5 WINDOW_S=20 pnpm exec tsx test/bench/agent-trust-cpu.ts
import { readFileSync, existsSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { enrollAgent, startAgent, startMesh, waitFor, type Agent, type Mesh } from "../harness/mesh.js";
import type { SecureNatsServer } from "../harness/nats.js";
import { listenOnLoopback } from "../harness/ports.js";

const ROUNDS = Math.min(Math.max(Number(process.env.ROUNDS ?? 3), 1), 20);
const WINDOW_S = Math.min(Math.max(Number(process.env.WINDOW_S ?? 12), 5), 120);
const WARMUP_S = Math.min(Math.max(Number(process.env.WARMUP_S ?? 4), 2), 60);
const CHECKS = Math.min(Math.max(Number(process.env.CHECKS ?? 50), 1), 1000);
const REGION = "bench";
/** USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 10 ms. */
const CLK_TCK = 100;

type Mode = "plaintext" | "secure";

/** User + system CPU seconds a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Results `agentId` published with startedAt in [from, to), over every bench check. */
async function countResults(mesh: Mesh, agentId: string, from: number, to: number): Promise<number> {
  const counts = await Promise.all(
    Array.from({ length: CHECKS }, async (_, c) => {
      const res = await mesh.cp.request(`/v1/checks/tcp-${c}/results?from=${from}&to=${to}&limit=10000`);
      if (res.status !== 200) throw new Error(`results of tcp-${c}: ${res.status} ${await res.text()}`);
      const rows = (await res.json()) as { agentId: string }[];
      return rows.filter((r) => r.agentId === agentId).length;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

interface Sample {
  mode: Mode;
  round: number;
  startCpuS: number;
  cpuS: number;
  probes: number;
  perThousand: number;
}

async function measure(mesh: Mesh, mode: Mode, round: number): Promise<Sample> {
  const id = `bench-${mode}-${round}`;
  const token = await enrollAgent(mesh.cp, { id, region: REGION });
  const secure = mode === "secure";
  const caFile = "caFile" in mesh.nats ? (mesh.nats as SecureNatsServer).caFile : undefined;
  if (secure !== (caFile !== undefined)) throw new Error(`${id}: the ${mode} mesh has ${caFile ? "a" : "no"} CA`);
  const agent: Agent = startAgent({
    id,
    region: REGION,
    token,
    grpcAddr: mesh.cp.grpcAddr,
    natsUrl: mesh.nats.url,
    ...(caFile ? { caFile } : {}),
    env: { PROBEMESH_LOG_LEVEL: "warn" },
  });
  try {
    const pid = agent.proc.child.pid;
    if (pid === undefined) throw new Error(`${id}: no pid`);
    const started = Date.now();
    // Running once its first results are stored.
    await waitFor(
      `${id} publishing`,
      async () => {
        if (agent.proc.exited()) throw new Error(`${id} exited:\n${agent.proc.output()}`);
        const res = await mesh.cp.request(`/v1/checks/tcp-0/results?from=${started}&limit=1`);
        return res.status === 200 && ((await res.json()) as unknown[]).length > 0;
      },
      60_000,
      250,
    );
    // The secure agent must really run with minted NATS credentials, the plaintext one without.
    const hasCreds = existsSync(join(agent.stateDir, "nats.creds"));
    if (hasCreds !== secure) throw new Error(`${id}: nats.creds ${hasCreds ? "present" : "missing"} in ${mode} mode`);
    await sleep(WARMUP_S * 1000);
    const t0 = Date.now();
    const c0 = cpuSeconds(pid);
    await sleep(WINDOW_S * 1000);
    const c1 = cpuSeconds(pid);
    const t1 = Date.now();
    await agent.stop();
    // Ingest batches inserts: count until two readings half a second apart agree.
    let probes = -1;
    for (let i = 0; i < 30; i++) {
      await sleep(500);
      const n = await countResults(mesh, id, t0, t1);
      if (n === probes) break;
      probes = n;
    }
    if (probes <= 0) throw new Error(`${id}: no results stored in the window`);
    const cpuS = c1 - c0;
    return { mode, round, startCpuS: c0, cpuS, probes, perThousand: (cpuS * 1000) / probes };
  } finally {
    await agent.dispose();
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  // The TCP target: accepts and closes. Its sockets are tracked so that closing it does not wait on one left open.
  const sockets = new Set<Socket>();
  const target = createServer((s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.end();
  });
  const port = await listenOnLoopback(target);
  const meshes: Partial<Record<Mode, Mesh>> = {};
  try {
    const env = { PROBEMESH_LOG_LEVEL: "warn" };
    [meshes.plaintext, meshes.secure] = await Promise.all([
      startMesh({ regions: [], secure: false, env }),
      startMesh({ regions: [], secure: true, env }),
    ]);
    process.stderr.write(`meshes up after ${((performance.now() - began) / 1000).toFixed(1)} s\n`);
    for (const mesh of Object.values(meshes))
      for (let c = 0; c < CHECKS; c++) {
        const res = await mesh.cp.request("/v1/checks", {
          method: "POST",
          body: JSON.stringify({
            id: `tcp-${c}`,
            type: "tcp",
            intervalMs: 1000,
            timeoutMs: 500,
            tcp: { host: "127.0.0.1", port },
          }),
        });
        if (res.status !== 201) throw new Error(`creating tcp-${c}: ${res.status} ${await res.text()}`);
      }
    const samples: Sample[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Mode[] = round % 2 === 1 ? ["plaintext", "secure"] : ["secure", "plaintext"];
      for (const mode of order) {
        const s = await measure(meshes[mode]!, mode, round);
        samples.push(s);
        process.stdout.write(
          `round ${round} ${mode.padEnd(9)}: ${s.perThousand.toFixed(3)} CPU-s per 1,000 probes ` +
            `(${s.cpuS.toFixed(2)} CPU-s / ${s.probes} probes in ${WINDOW_S} s; ${s.startCpuS.toFixed(2)} CPU-s from start through warm-up) ` +
            `[${((performance.now() - began) / 1000).toFixed(0)} s]\n`,
        );
      }
    }
    const of = (mode: Mode) => samples.filter((s) => s.mode === mode);
    const line = (mode: Mode) => {
      const xs = of(mode).map((s) => s.perThousand);
      const starts = of(mode).map((s) => s.startCpuS);
      return (
        `  ${mode.padEnd(9)} median ${median(xs).toFixed(3)} CPU-s per 1,000 probes ` +
        `(runs ${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}); start-up through warm-up median ${median(starts).toFixed(2)} CPU-s\n`
      );
    };
    const mA = median(of("plaintext").map((s) => s.perThousand));
    const mB = median(of("secure").map((s) => s.perThousand));
    process.stdout.write(
      `agent CPU per 1,000 probes (${CHECKS} TCP checks at 1 s, ${WINDOW_S} s windows after ${WARMUP_S} s warm-up, ${ROUNDS} rounds alternating):\n` +
        line("plaintext") +
        line("secure") +
        `  secure / plaintext: ${(mB / mA).toFixed(3)}x (${mB >= mA ? "+" : ""}${(((mB - mA) / mA) * 100).toFixed(1)} %); ` +
        `a difference inside the spread of single runs is noise\n`,
    );
  } finally {
    const stopping = performance.now();
    // Debian's ClickHouse 18.16 can take a minute or two to stop on a busy machine.
    await Promise.all(Object.values(meshes).map((m) => m.dispose()));
    process.stderr.write(`meshes stopped in ${((performance.now() - stopping) / 1000).toFixed(1)} s\n`);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => target.close(() => r()));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
