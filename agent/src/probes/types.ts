import type { Check, DnsInfo, FailureReason, IcmpInfo, PhaseTimings, TlsInfo } from "@probemesh/proto";

/** Verdict of one probe run, as the API spells it. */
export type ProbeVerdict = "up" | "degraded" | "down";

/** Classified failure reasons: the vocabulary agent and control plane share (see proto's vocabulary). */
export type { FailureReason };

/** What a prober reports for one run (or one address, with `allIps`). */
export interface ProbeOutcome {
  state: ProbeVerdict;
  /** Empty when state is "up". */
  reason: FailureReason;
  /** Human detail, at most 512 characters; never contains check secrets (headers, bodies). */
  message: string;
  /** Milliseconds per phase; omitted phases did not happen. Monotone: each >= 0. */
  phases: Partial<Omit<PhaseTimings, "$typeName" | "$unknown">>;
  /** Address actually probed (ip:port or URL). */
  target: string;
  /** Total duration of the run in ms. */
  durationMs: number;
  /** How many attempts were made (1 unless the check configures retries). */
  attempts: number;
  httpStatus?: number;
  bodyBytes?: number;
  tls?: Omit<TlsInfo, "$typeName" | "$unknown">;
  dns?: Omit<DnsInfo, "$typeName" | "$unknown">;
  icmp?: Omit<IcmpInfo, "$typeName" | "$unknown">;
  grpcStatus?: string;
}

/** Per-run context given to a prober by the scheduler. */
export interface ProbeContext {
  /** Aborted when the check's timeout elapses or the agent stops; probers must stop promptly. */
  signal: AbortSignal;
  /** The check's hard timeout in ms (the signal fires at this deadline). */
  timeoutMs: number;
}

/**
 * A probe implementation for one check type. `run` never rejects: every failure,
 * including an abort, is returned as a "down" outcome with a classified reason.
 * It may return several outcomes (one per address when the check asks for all IPs).
 */
export interface Prober {
  readonly type: string;
  /** Returns an error message when this agent cannot run the check (e.g. no ICMP socket), else undefined. */
  capabilityError?(check: Check): Promise<string | undefined>;
  run(check: Check, ctx: ProbeContext): Promise<ProbeOutcome[]>;
}
