import { performance } from "node:perf_hooks";
import { createHttpProber } from "./http/http-prober.js";
import { systemLookup, type LookupFn } from "./shared/resolve.js";
import { createTcpProber } from "./tcp/tcp-prober.js";
import type { Prober } from "./types.js";

export type { FailureReason, ProbeContext, ProbeOutcome, ProbeVerdict, Prober } from "./types.js";
export type { LookupFn, ResolvedAddress } from "./shared/resolve.js";
export { createHttpProber, type HttpProberDeps } from "./http/http-prober.js";
export { createTcpProber, type TcpProberDeps } from "./tcp/tcp-prober.js";

/** Options of `createProbers`; every one has a production default. */
export interface ProbersOptions {
  /** Monotonic milliseconds for phase timings. @default performance.now */
  now?: () => number;
  /** Host name resolution. @default the system resolver (dns.lookup) */
  lookup?: LookupFn;
  /** User-Agent of HTTP probes unless a check sets its own. @default "probemesh-agent" */
  userAgent?: string;
}

/** Builds every prober this agent has, keyed by check type. */
export function createProbers(options: ProbersOptions = {}): ReadonlyMap<string, Prober> {
  const now = options.now ?? (() => performance.now());
  const lookup = options.lookup ?? systemLookup;
  const userAgent = options.userAgent ?? "probemesh-agent";
  const probers: Prober[] = [createHttpProber({ now, lookup, userAgent }), createTcpProber({ now, lookup })];
  return new Map(probers.map((p) => [p.type, p]));
}
