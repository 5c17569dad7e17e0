import type { Check } from "@probemesh/proto";
import { connect } from "node:net";
import { abortFailure, withDeadline } from "../shared/abort.js";
import { applyDegraded, outcome, type Failure } from "../shared/outcome.js";
import { resolveHost, type LookupFn, type ResolvedAddress } from "../shared/resolve.js";
import { withRetries } from "../shared/retry.js";
import { hostPort } from "../shared/tls-handshake.js";
import type { ProbeContext, ProbeOutcome, Prober } from "../types.js";

/** Dependencies of the TCP prober. */
export interface TcpProberDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  lookup: LookupFn;
}

/** Outcome of one TCP connect attempt. */
export interface ConnectResult {
  connectMs?: number;
  failure?: Failure;
}

/** Opens and closes one TCP connection to an address, timed; never rejects. */
export function tcpConnect(
  address: ResolvedAddress,
  port: number,
  signal: AbortSignal,
  now: () => number,
): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const t0 = now();
    let done = false;
    const where = hostPort(address.address, port);
    const socket = connect({ host: address.address, port, family: address.family });
    const finish = (r: ConnectResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = () => finish({ failure: abortFailure(signal, `connect to ${where}`) });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish({ connectMs: now() - t0 }));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      finish({ failure: { reason: "connect", message: `connect to ${where} failed: ${err.code ?? err.message}` } }),
    );
  });
}

/** Probes that a TCP port accepts connections: dns and connect phases. */
export function createTcpProber(deps: TcpProberDeps): Prober {
  const { now } = deps;
  async function attempt(check: Check, signal: AbortSignal): Promise<ProbeOutcome[]> {
    const started = now();
    const tcp = check.tcp;
    if (!tcp || !tcp.host || !(tcp.port > 0 && tcp.port < 65536)) {
      return [
        outcome({
          failure: { reason: "internal", message: "invalid check: tcp.host and tcp.port (1-65535) are required" },
          phases: {},
          target: "",
          durationMs: 0,
        }),
      ];
    }
    const res = await resolveHost(tcp.host, { ipPreference: "", all: false, signal, lookup: deps.lookup, now });
    const phases: ProbeOutcome["phases"] = res.dnsMs !== undefined ? { dnsMs: res.dnsMs } : {};
    if (!res.ok)
      return [
        outcome({ failure: res.failure, phases, target: `${tcp.host}:${tcp.port}`, durationMs: now() - started }),
      ];
    const address = res.addresses[0]!;
    const c = await tcpConnect(address, tcp.port, signal, now);
    if (c.connectMs !== undefined) phases.connectMs = c.connectMs;
    return [
      outcome({
        ...(c.failure ? { failure: c.failure } : {}),
        phases,
        target: hostPort(address.address, tcp.port),
        durationMs: now() - started,
      }),
    ];
  }
  return {
    type: "tcp",
    async run(check: Check, ctx: ProbeContext) {
      const outcomes = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) =>
        withRetries(check.retries, signal, now, () => attempt(check, signal)),
      );
      return outcomes.map((o) => applyDegraded(o, check.degradedAfterMs));
    },
  };
}
