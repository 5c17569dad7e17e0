// The agents' side of `pnpm bench:ingest`, in its own process so that its CPU is not counted as the
// control plane's. Pre-encodes COUNT results (ids `<PREFIX>-<n>`) from AGENTS agents before the clock
// starts, prints `ready`, waits for a `go` line on stdin, then publishes them the way agents do: each
// agent in order, awaiting JetStream's ack with the result id as message id (server-side dedupe), up to
// WINDOW results of one agent in flight. Prints `done <ms> cpu <ms>` (first publish to last ack, and the
// CPU this process spent meanwhile).
import { createInterface } from "node:readline";
import { create, toBinary } from "@bufbuild/protobuf";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ProbeResultSchema, ProbeState, resultSubject } from "@probemesh/proto";

const env = (name: string, dflt?: string): string => {
  const v = process.env[name] ?? dflt;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};

const COUNT = Number(env("COUNT"));
const AGENTS = Number(env("AGENTS", "100"));
const WINDOW = Number(env("WINDOW", "64"));
const CONNECTIONS = Number(env("CONNECTIONS", "4"));
const PREFIX = env("PREFIX");
const REGIONS = Number(env("REGIONS", "10"));
const CHECKS = Number(env("CHECKS", "500"));

interface Encoded {
  subject: string;
  id: string;
  bytes: Uint8Array;
}

async function main(): Promise<void> {
  const t0 = Date.now() - 600_000;
  const perAgent: Encoded[][] = Array.from({ length: AGENTS }, () => []);
  for (let j = 0; j < COUNT; j++) {
    const a = j % AGENTS;
    const region = `region-${a % REGIONS}`;
    const c = (j * 7) % CHECKS;
    const r = create(ProbeResultSchema, {
      id: `${PREFIX}-${j}`,
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
      seq: BigInt(Math.floor(j / AGENTS) + 1),
      attempts: 1,
      target: `https://service-${c}.example.com/healthz`,
      httpStatus: j % 50 === 0 ? 0 : 200,
      bodyBytes: 512n,
    });
    perAgent[a]!.push({ subject: resultSubject(region, r.agentId), id: r.id, bytes: toBinary(ProbeResultSchema, r) });
  }
  const conns = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => connect({ servers: env("NATS_URL"), noEcho: true })),
  );
  const clients: JetStreamClient[] = conns.map((nc) => jetstream(nc));

  process.stdout.write("ready\n");
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === "go") break;

  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    perAgent.map(async (results, a) => {
      const js = clients[a % clients.length]!;
      for (let i = 0; i < results.length; i += WINDOW) {
        await Promise.all(
          results.slice(i, i + WINDOW).map((e) => js.publish(e.subject, e.bytes, { msgID: e.id, timeout: 30_000 })),
        );
      }
    }),
  );
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`done ${ms.toFixed(1)} cpu ${((cpu.user + cpu.system) / 1000).toFixed(1)}\n`);
  await Promise.all(conns.map((nc) => nc.close()));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
