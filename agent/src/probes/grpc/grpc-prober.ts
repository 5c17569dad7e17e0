import type { Check } from "@probemesh/proto";
import {
  Client,
  connectivityState,
  credentials,
  Metadata,
  status as grpcStatus,
  type ServiceError,
} from "@grpc/grpc-js";
import { rootCertificates } from "node:tls";
import { abortFailure, withDeadline } from "../shared/abort.js";
import { applyDegraded, outcome, type Failure } from "../shared/outcome.js";
import { bareHost, resolveHost, type LookupFn } from "../shared/resolve.js";
import { withRetries } from "../shared/retry.js";
import { hostPort } from "../shared/tls-handshake.js";
import type { ProbeContext, ProbeOutcome, Prober } from "../types.js";
import { decodeHealthResponse, encodeHealthRequest } from "./health-codec.js";

/** Dependencies of the gRPC health prober. */
export interface GrpcProberDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  lookup: LookupFn;
}

const HEALTH_CHECK = "/grpc.health.v1.Health/Check";

/** Splits "host:port" or "[v6]:port". */
function splitAddress(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { host: bareHost(m[1]!), port } : undefined;
}

function statusName(code: number): string {
  return (grpcStatus as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** Classifies a failed call: where it broke matters more to the user than the gRPC code. */
function callFailure(err: ServiceError, where: string): Failure {
  const details = (err.details || err.message || "").slice(0, 200);
  if (err.code === grpcStatus.UNIMPLEMENTED)
    return { reason: "protocol", message: `${where} does not implement grpc.health.v1.Health/Check` };
  if (err.code === grpcStatus.NOT_FOUND)
    return { reason: "assertion:serving_status", message: `service unknown to ${where} (NOT_FOUND)` };
  if (err.code === grpcStatus.DEADLINE_EXCEEDED)
    return { reason: "timeout", message: `deadline exceeded calling ${where}` };
  if (err.code === grpcStatus.UNAVAILABLE) {
    if (/certificate|ssl|tls|handshake|self[- ]signed|altname|verify/i.test(details))
      return { reason: "tls", message: `TLS with ${where} failed: ${details}` };
    if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|connect/i.test(details))
      return { reason: "connect", message: `connect to ${where} failed: ${details}` };
  }
  return { reason: "protocol", message: `Health/Check on ${where} failed with ${statusName(err.code)}: ${details}` };
}

/** Calls grpc.health.v1.Health/Check for a service, plain or TLS, and is up only when SERVING. */
export function createGrpcProber(deps: GrpcProberDeps): Prober {
  const { now } = deps;

  async function attempt(check: Check, signal: AbortSignal, timeoutMs: number): Promise<ProbeOutcome[]> {
    const started = now();
    const g = check.grpc;
    const invalid = (message: string) => [
      outcome({
        failure: { reason: "internal", message: `invalid check: ${message}` },
        phases: {},
        target: g?.address ?? "",
        durationMs: 0,
      }),
    ];
    const addr = g ? splitAddress(g.address) : undefined;
    if (!g || !addr) return invalid("grpc.address must be host:port");
    const metadata = new Metadata();
    try {
      for (const [k, v] of Object.entries(g.metadata)) metadata.add(k.toLowerCase(), v);
    } catch {
      return invalid("grpc.metadata has an invalid key or value");
    }
    const res = await resolveHost(addr.host, { ipPreference: "", all: false, signal, lookup: deps.lookup, now });
    const phases: ProbeOutcome["phases"] = res.dnsMs !== undefined ? { dnsMs: res.dnsMs } : {};
    if (!res.ok) return [outcome({ failure: res.failure, phases, target: g.address, durationMs: now() - started })];
    const where = hostPort(res.addresses[0]!.address, addr.port);
    const creds = g.tls
      ? credentials.createSsl(g.caPem ? Buffer.from([...rootCertificates, g.caPem].join("\n")) : null, null, null, {
          ...(g.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {}),
        })
      : credentials.createInsecure();
    const client = new Client(where, creds, {
      // A fresh connection per probe: a shared subchannel would hide connect failures and timings.
      "grpc.use_local_subchannel_pool": 1,
      "grpc.enable_retries": 0,
      "grpc.service_config_disable_resolution": 1,
      ...(g.tls ? { "grpc.ssl_target_name_override": addr.host, "grpc.default_authority": addr.host } : {}),
    });
    try {
      const t0 = now();
      let tReady: number | undefined;
      const channel = client.getChannel();
      const watch = (state: connectivityState) => {
        if (state === connectivityState.READY) {
          tReady ??= now();
          return;
        }
        if (state === connectivityState.SHUTDOWN) return;
        channel.watchConnectivityState(state, Date.now() + timeoutMs + 1000, (err) => {
          if (!err) watch(channel.getConnectivityState(false));
        });
      };
      watch(channel.getConnectivityState(true));
      const result = await new Promise<{ status?: string; err?: ServiceError; aborted?: true }>((resolve) => {
        const call = client.makeUnaryRequest(
          HEALTH_CHECK,
          (service: string) => encodeHealthRequest(service),
          decodeHealthResponse,
          g.service,
          metadata,
          { deadline: Date.now() + Math.max(1, timeoutMs) },
          (err, value) => {
            signal.removeEventListener("abort", onAbort);
            if (signal.aborted) resolve({ aborted: true });
            else if (err) resolve({ err });
            else resolve({ status: value ?? "UNKNOWN" });
          },
        );
        const onAbort = () => call.cancel();
        if (signal.aborted) call.cancel();
        else signal.addEventListener("abort", onAbort, { once: true });
      });
      const tEnd = now();
      if (tReady !== undefined) {
        phases.connectMs = tReady - t0;
        phases.ttfbMs = tEnd - tReady;
      }
      const base = { phases, target: where };
      if (result.aborted)
        return [outcome({ ...base, failure: abortFailure(signal, "Health/Check"), durationMs: now() - started })];
      if (result.err) {
        return [
          outcome({
            ...base,
            failure: callFailure(result.err, where),
            durationMs: now() - started,
            grpcStatus: statusName(result.err.code),
          }),
        ];
      }
      const serving = result.status ?? "UNKNOWN";
      const failure: Failure | undefined =
        serving === "SERVING"
          ? undefined
          : {
              reason: "assertion:serving_status",
              message: `service ${JSON.stringify(g.service.slice(0, 80))} is ${serving}`,
            };
      return [outcome({ ...base, ...(failure ? { failure } : {}), durationMs: now() - started, grpcStatus: serving })];
    } finally {
      client.close();
    }
  }

  return {
    type: "grpc",
    async run(check: Check, ctx: ProbeContext) {
      const started = now();
      const budget = ctx.timeoutMs > 0 ? ctx.timeoutMs : 30_000;
      const outcomes = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) =>
        withRetries(check.retries, signal, now, () => attempt(check, signal, Math.max(1, budget - (now() - started)))),
      );
      return outcomes.map((o) => applyDegraded(o, check.degradedAfterMs));
    },
  };
}
