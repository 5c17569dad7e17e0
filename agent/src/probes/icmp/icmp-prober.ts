import type { Check } from "@probemesh/proto";
import { spawn } from "node:child_process";
import { abortFailure, withDeadline } from "../shared/abort.js";
import { applyDegraded, outcome, type Failure } from "../shared/outcome.js";
import { resolveHost, type LookupFn } from "../shared/resolve.js";
import { withRetries } from "../shared/retry.js";
import type { ProbeContext, ProbeOutcome, Prober } from "../types.js";
import { parsePingOutput } from "./ping-output.js";

/** Dependencies of the ICMP prober. */
export interface IcmpProberDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  lookup: LookupFn;
  /** argv prefix that runs iputils ping (e.g. `["ip","netns","exec","x","ping"]`). @default ["ping"] */
  pingCommand?: readonly string[];
}

/** Echo requests sent when the check does not say. @default 3 */
export const DEFAULT_PACKETS = 3;
/** Upper bound on packets per run. */
export const MAX_PACKETS = 100;
const OUTPUT_LIMIT = 64 * 1024;
const CAPABILITY_TTL_MS = 60_000;

interface PingRun {
  code: number | null;
  output: string;
  spawnError?: string;
  killed: boolean;
}

/** Runs ping once; SIGINT at `softMs` makes it print its summary early, the signal kills it. */
function runPing(argv: readonly string[], signal: AbortSignal, softMs: number): Promise<PingRun> {
  // Cancelled already: nothing to spawn.
  if (signal.aborted) return Promise.resolve({ code: null, output: "", killed: true });
  return new Promise((resolve) => {
    let output = "";
    let killed = false;
    let settled = false;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
    });
    const keep = (chunk: Buffer) => {
      if (output.length < OUTPUT_LIMIT) output += chunk.toString("utf8");
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const soft = setTimeout(() => child.kill("SIGINT"), Math.max(10, softMs));
    const onAbort = () => {
      killed = true;
      child.kill("SIGKILL");
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const done = (r: PingRun) => {
      if (settled) return;
      settled = true;
      clearTimeout(soft);
      signal.removeEventListener("abort", onAbort);
      resolve(r);
    };
    child.once("error", (err: NodeJS.ErrnoException) =>
      done({ code: null, output, spawnError: err.code ?? err.message, killed }),
    );
    child.once("close", (code) => done({ code, output, killed }));
  });
}

/** Sends ICMP echo requests with the system `ping` (Node has no ICMP sockets) and judges loss. */
export function createIcmpProber(deps: IcmpProberDeps): Prober {
  const { now } = deps;
  const ping = deps.pingCommand ?? ["ping"];
  let capability: { at: number; problem: string | undefined } | undefined;

  async function capabilityError(): Promise<string | undefined> {
    if (capability && (capability.problem === undefined || now() - capability.at < CAPABILITY_TTL_MS))
      return capability.problem;
    const r = await runPing([...ping, "-n", "-c", "1", "-W", "1", "127.0.0.1"], AbortSignal.timeout(3000), 2500);
    let problem: string | undefined;
    if (r.spawnError === "ENOENT")
      problem = `icmp needs the ping binary (Debian/Ubuntu package iputils-ping); "${ping[0]}" was not found`;
    else if (r.spawnError) problem = `icmp: cannot run ${ping[0]}: ${r.spawnError}`;
    else if (/not permitted|permission denied/i.test(r.output)) {
      problem =
        "icmp: ping may not open an ICMP socket here (needs CAP_NET_RAW, or net.ipv4.ping_group_range covering the agent's group)";
    } else if (!parsePingOutput(r.output)) problem = `icmp: ping produced no summary: ${r.output.slice(0, 200)}`;
    capability = { at: now(), problem };
    return problem;
  }

  async function attempt(check: Check, signal: AbortSignal, budgetMs: number): Promise<ProbeOutcome[]> {
    const started = now();
    const icmp = check.icmp;
    if (!icmp || icmp.host === "")
      return [
        outcome({
          failure: { reason: "internal", message: "invalid check: icmp.host is required" },
          phases: {},
          target: "",
          durationMs: 0,
        }),
      ];
    const packets = Math.min(MAX_PACKETS, icmp.packets > 0 ? icmp.packets : DEFAULT_PACKETS);
    const res = await resolveHost(icmp.host, { ipPreference: "", all: false, signal, lookup: deps.lookup, now });
    const phases: ProbeOutcome["phases"] = res.dnsMs !== undefined ? { dnsMs: res.dnsMs } : {};
    if (!res.ok) return [outcome({ failure: res.failure, phases, target: icmp.host, durationMs: now() - started })];
    const address = res.addresses[0]!;
    const remaining = budgetMs - (now() - started);
    // ping must end, and print its statistics, before the probe's deadline: its own deadline (-w,
    // whole seconds) and the SIGINT that stops it sooner leave it a quarter of the budget (at most
    // 500 ms) to print and exit, which a loaded host needs (100 ms was seen to be too little).
    const margin = Math.min(500, remaining / 4);
    // Spread packets over at most half the budget so the last reply has time to come back.
    const intervalS = Math.min(0.2, Math.max(0.01, remaining / 2000 / packets));
    const argv = [
      ...ping,
      address.family === 6 ? "-6" : "-4",
      "-n",
      "-c",
      String(packets),
      "-i",
      intervalS.toFixed(3),
      "-W",
      "1",
      "-w",
      String(Math.max(1, Math.floor((remaining - margin) / 1000))),
      address.address,
    ];
    const r = await runPing(argv, signal, remaining - margin);
    const base = { phases, target: address.address };
    if (r.killed) return [outcome({ ...base, failure: abortFailure(signal, "ping"), durationMs: now() - started })];
    if (r.spawnError)
      return [
        outcome({
          ...base,
          failure: { reason: "capability", message: `cannot run ping: ${r.spawnError}` },
          durationMs: now() - started,
        }),
      ];
    const stats = parsePingOutput(r.output);
    if (!stats) {
      const line = r.output.trim().split("\n")[0] ?? "";
      const reason = /not permitted|permission denied/i.test(line) ? "capability" : "internal";
      return [
        outcome({
          ...base,
          failure: { reason, message: `ping failed: ${line.slice(0, 200)}` },
          durationMs: now() - started,
        }),
      ];
    }
    const sent = Math.max(stats.sent, 1);
    const lossPct = ((sent - stats.received) / sent) * 100;
    let failure: Failure | undefined;
    if (stats.received === 0)
      failure = { reason: "connect", message: `no echo reply from ${address.address} (${stats.sent} sent)` };
    // 0 means unset in proto3: like blackbox_exporter, any reply is then enough.
    else if (icmp.maxLossPercent > 0 && lossPct >= icmp.maxLossPercent) {
      failure = {
        reason: "assertion:packet_loss",
        message: `${lossPct.toFixed(0)}% packet loss, limit ${icmp.maxLossPercent}%`,
      };
    }
    return [
      outcome({
        ...base,
        ...(failure ? { failure } : {}),
        ...(!failure && stats.received < stats.sent ? { note: `${lossPct.toFixed(0)}% packet loss` } : {}),
        durationMs: now() - started,
        icmp: {
          sent: stats.sent,
          received: stats.received,
          rttMinMs: stats.rttMinMs,
          rttAvgMs: stats.rttAvgMs,
          rttMaxMs: stats.rttMaxMs,
          rttStddevMs: stats.rttStddevMs,
        },
      }),
    ];
  }

  return {
    type: "icmp",
    capabilityError: () => capabilityError(),
    async run(check: Check, ctx: ProbeContext) {
      const budget = ctx.timeoutMs > 0 ? ctx.timeoutMs : 10_000;
      const started = now();
      const outcomes = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) =>
        withRetries(check.retries, signal, now, () => attempt(check, signal, budget - (now() - started))),
      );
      return outcomes.map((o) => applyDegraded(o, check.degradedAfterMs));
    },
  };
}
