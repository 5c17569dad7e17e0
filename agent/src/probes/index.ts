import type { CheckType } from "@probemesh/proto";
import { performance } from "node:perf_hooks";
import { createDnsProber } from "./dns/dns-prober.js";
import { createGrpcProber } from "./grpc/grpc-prober.js";
import { createHttpProber } from "./http/http-prober.js";
import { createIcmpProber } from "./icmp/icmp-prober.js";
import { systemLookup, type LookupFn } from "./shared/resolve.js";
import { createTcpProber } from "./tcp/tcp-prober.js";
import { createTlsProber } from "./tls/tls-prober.js";
import type { Prober } from "./types.js";

export type { FailureReason, ProbeContext, ProbeOutcome, ProbeVerdict, Prober } from "./types.js";
export type { LookupFn, ResolvedAddress } from "./shared/resolve.js";
export { createHttpProber, type HttpProberDeps } from "./http/http-prober.js";
export { createTcpProber, type TcpProberDeps } from "./tcp/tcp-prober.js";
export { createTlsProber, type TlsProberDeps } from "./tls/tls-prober.js";
export { createDnsProber, type DnsProberDeps } from "./dns/dns-prober.js";
export { createGrpcProber, type GrpcProberDeps } from "./grpc/grpc-prober.js";
export { createIcmpProber, type IcmpProberDeps } from "./icmp/icmp-prober.js";

/** Options of `createProbers`; every one has a production default. */
export interface ProbersOptions {
  /** Monotonic milliseconds for phase timings. @default performance.now */
  now?: () => number;
  /** Wall-clock epoch milliseconds (certificate expiry). @default Date.now */
  wallNow?: () => number;
  /** Host name resolution. @default the system resolver (dns.lookup) */
  lookup?: LookupFn;
  /** User-Agent of HTTP probes unless a check sets its own. @default "probemesh-agent" */
  userAgent?: string;
  /** argv prefix running iputils ping for ICMP checks. @default ["ping"] */
  pingCommand?: readonly string[];
  /** Resolver ("host:port") for DNS checks that name none. @default the system's first resolver */
  defaultDnsResolver?: () => string;
}

/**
 * Builds every prober this agent has, keyed by check type: one for each of proto's CHECK_TYPES (a
 * type added there does not compile until it has a prober here).
 */
export function createProbers(options: ProbersOptions = {}): ReadonlyMap<string, Prober> {
  const now = options.now ?? (() => performance.now());
  const wallNow = options.wallNow ?? Date.now;
  const lookup = options.lookup ?? systemLookup;
  const userAgent = options.userAgent ?? "probemesh-agent";
  const probers: { readonly [T in CheckType]: Prober } = {
    http: createHttpProber({ now, lookup, userAgent }),
    tcp: createTcpProber({ now, lookup }),
    tls: createTlsProber({ now, wallNow, lookup }),
    dns: createDnsProber({
      now,
      lookup,
      ...(options.defaultDnsResolver ? { defaultResolver: options.defaultDnsResolver } : {}),
    }),
    grpc: createGrpcProber({ now, lookup }),
    icmp: createIcmpProber({ now, lookup, ...(options.pingCommand ? { pingCommand: options.pingCommand } : {}) }),
  };
  return new Map(Object.entries(probers));
}

/** The capabilities an agent announces: the check types it has a prober for, sorted. */
export function capabilitiesOf(probers: ReadonlyMap<string, Prober>): string[] {
  return [...probers.keys()].sort();
}
