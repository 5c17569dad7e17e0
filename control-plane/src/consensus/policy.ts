import type { Check } from "@probemesh/proto";
import type { CheckPolicy, Quorum } from "./types.js";

/** Consecutive failures to enter `down` when a check does not say. */
export const DEFAULT_FAILURE_THRESHOLD = 2;
/** Consecutive successes to leave `down` when a check does not say. */
export const DEFAULT_RECOVERY_THRESHOLD = 2;

/** Parses a quorum as the check JSON spells it ("majority", "all", "any", "3"); undefined when invalid. */
export function parseQuorum(value: unknown): Quorum | undefined {
  if (value === undefined || value === null || value === "") return "majority";
  if (value === "majority" || value === "all" || value === "any") return value;
  const n =
    typeof value === "number" ? value : typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : undefined;
}

/** A policy with every default filled in; `partial` may omit anything but `checkId`. */
export function normalizePolicy(partial: Partial<CheckPolicy> & { checkId: string }): CheckPolicy {
  const intervalMs = positive(partial.intervalMs, 60_000);
  return {
    checkId: partial.checkId,
    checkUid: partial.checkUid ?? "",
    dependsOn: [...new Set(partial.dependsOn ?? [])].filter((d) => d !== partial.checkId).sort(),
    intervalMs,
    timeoutMs: positive(partial.timeoutMs, Math.min(10_000, intervalMs)),
    regions: [...new Set(partial.regions ?? [])].sort(),
    failureThreshold: positive(partial.failureThreshold, DEFAULT_FAILURE_THRESHOLD),
    recoveryThreshold: positive(partial.recoveryThreshold, DEFAULT_RECOVERY_THRESHOLD),
    quorum: partial.quorum ?? "majority",
    canary: partial.canary ?? false,
    sinceVersion: partial.sinceVersion ?? 0,
    notBefore: partial.notBefore ?? 0,
  };
}

/** The consensus policy of a registry check (proto3 zero values mean "use the default"). */
export function policyFromCheck(check: Check): CheckPolicy {
  return normalizePolicy({
    checkId: check.id,
    checkUid: check.uid,
    dependsOn: check.dependsOn,
    intervalMs: check.intervalMs,
    timeoutMs: check.timeoutMs,
    regions: check.regions,
    failureThreshold: check.failureThreshold,
    recoveryThreshold: check.recoveryThreshold,
    // The registry validated it; an unparsable value falls back to the safe default.
    quorum: parseQuorum(check.quorum) ?? "majority",
    canary: check.canary,
  });
}

/**
 * What a check probes: its type and target (URL, host and port, DNS name, type and resolver,
 * gRPC address and service). A change of it is a new target: open incidents are abandoned, not
 * resolved, and earlier results no longer vote.
 */
export function probedTarget(check: Check): string {
  const parts: unknown[] = [check.type];
  if (check.http) parts.push(check.http.url);
  if (check.tcp) parts.push(check.tcp.host, check.tcp.port);
  if (check.dns) parts.push(check.dns.name, check.dns.recordType, check.dns.resolver, check.dns.transport);
  if (check.tls) parts.push(check.tls.host, check.tls.port, check.tls.serverName);
  if (check.grpc) parts.push(check.grpc.address, check.grpc.service, check.grpc.tls);
  if (check.icmp) parts.push(check.icmp.host);
  return JSON.stringify(parts);
}

/** How long after its last result an agent still counts as fresh: two intervals plus the timeout. */
export function staleAfterMs(policy: CheckPolicy): number {
  return 2 * policy.intervalMs + policy.timeoutMs;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : fallback;
}

/**
 * How long a check must stay `partial` before the partial is announced: one interval plus the
 * timeout, so every region has reported once more. A check going down region by region reaches
 * `down` within it and is announced as one outage.
 */
export function partialHoldMs(policy: CheckPolicy): number {
  return policy.intervalMs + policy.timeoutMs;
}

/**
 * How far back results are read to rebuild the state of `checks` after a start or a takeover: long
 * enough to refill every check's streaks and freshness window, at most `maxMs`.
 * @param maxMs @default 86400000 (24 h)
 */
export function warmUpLookbackMs(checks: Iterable<Check>, maxMs = 86_400_000): number {
  let lookback = 0;
  for (const check of checks) {
    const p = policyFromCheck(check);
    lookback = Math.max(lookback, staleAfterMs(p) + Math.max(p.failureThreshold, p.recoveryThreshold) * p.intervalMs);
  }
  return Math.min(lookback, maxMs);
}
