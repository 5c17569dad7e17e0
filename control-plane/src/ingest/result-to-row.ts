// The boundary between the wire ProbeResult (protobuf) and the stored ResultRow.
import { ProbeState, probeStateName, type ProbeResult } from "@probemesh/proto";
import { ValidationError } from "../errors.js";
import type { ResultRow } from "../store/types.js";
import { maskUrlQuery, maskUrlsInText } from "../trust/url-query.js";

/** Longest id-like field (result, check, agent id, region) accepted. */
export const MAX_ID_LENGTH = 256;
/** `message` is cut to this many characters (agents bound it too; this protects the table). */
export const MAX_MESSAGE_LENGTH = 4_096;
/** `target` and `reason` are cut to this many characters. */
export const MAX_TARGET_LENGTH = 2_048;

/** Latest accepted start time: the last ms the `results` partition key (a 32-bit DateTime) holds, in 2106. */
export const MAX_STARTED_AT_MS = 4_294_967_295_999n;

/** Why an id-like field is not acceptable, or undefined. */
function idProblem(field: string, value: string): string | undefined {
  if (value === "") return `${field} is empty`;
  if (value.length > MAX_ID_LENGTH) return `${field} is longer than ${MAX_ID_LENGTH}`;
  return undefined;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const bad = (field: string): string => `${field} must be a finite non-negative number`;

/** True for a finite non-negative number (false for NaN). */
const duration = (value: number): boolean => value >= 0 && value !== Infinity;

/** Why a decoded result must not be stored, or undefined when it is fine. (Runs once per result: no allocation.) */
export function resultProblem(r: ProbeResult): string | undefined {
  const idIssue =
    idProblem("id", r.id) ??
    idProblem("checkId", r.checkId) ??
    idProblem("agentId", r.agentId) ??
    idProblem("region", r.region);
  if (idIssue !== undefined) return idIssue;
  if (r.state !== ProbeState.UP && r.state !== ProbeState.DEGRADED && r.state !== ProbeState.DOWN)
    return `state ${r.state} is not up, degraded or down`;
  if (r.startedAtMs <= 0n || r.startedAtMs > MAX_STARTED_AT_MS)
    return "startedAtMs is not a valid epoch ms (1970..2106)";
  if (r.seq > MAX_SAFE || r.bodyBytes > MAX_SAFE) return "seq or bodyBytes out of range";
  if (!duration(r.durationMs)) return bad("durationMs");
  if (!duration(r.lagMs)) return bad("lagMs");
  const p = r.phases;
  if (p) {
    if (!duration(p.dnsMs)) return bad("phases.dnsMs");
    if (!duration(p.connectMs)) return bad("phases.connectMs");
    if (!duration(p.tlsMs)) return bad("phases.tlsMs");
    if (!duration(p.ttfbMs)) return bad("phases.ttfbMs");
    if (!duration(p.transferMs)) return bad("phases.transferMs");
  }
  return undefined;
}

function details(r: ProbeResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.tls) {
    out.tls = {
      protocol: r.tls.protocol,
      cipher: r.tls.cipher,
      notBeforeMs: Number(r.tls.notBeforeMs),
      notAfterMs: Number(r.tls.notAfterMs),
      chainNotAfterMs: Number(r.tls.chainNotAfterMs),
      issuer: r.tls.issuer,
      subject: r.tls.subject,
      sans: [...r.tls.sans],
      fingerprintSha256: r.tls.fingerprintSha256,
      verified: r.tls.verified,
      verifyError: r.tls.verifyError,
    };
  }
  if (r.dns) out.dns = { rcode: r.dns.rcode, answers: [...r.dns.answers] };
  if (r.icmp) {
    out.icmp = {
      sent: r.icmp.sent,
      received: r.icmp.received,
      rttMinMs: r.icmp.rttMinMs,
      rttAvgMs: r.icmp.rttAvgMs,
      rttMaxMs: r.icmp.rttMaxMs,
      rttStddevMs: r.icmp.rttStddevMs,
    };
  }
  if (r.grpcStatus !== "") out.grpcStatus = r.grpcStatus;
  return out;
}

/**
 * Converts a wire ProbeResult into the stored row. Throws ValidationError (with the problem) for a result
 * that fails `resultProblem`; oversized free-text fields are truncated rather than rejected.
 */
export function resultToRow(r: ProbeResult): ResultRow {
  const problem = resultProblem(r);
  if (problem !== undefined)
    throw new ValidationError(`invalid probe result: ${problem}`, { field: problem.split(" ")[0] });
  return {
    id: r.id,
    checkId: r.checkId,
    checkVersion: r.checkVersion,
    agentId: r.agentId,
    region: r.region,
    provider: r.provider.slice(0, MAX_ID_LENGTH),
    startedAt: Number(r.startedAtMs),
    durationMs: r.durationMs,
    state: probeStateName(r.state),
    reason: r.reason.slice(0, MAX_TARGET_LENGTH),
    message: maskUrlsInText(r.message.slice(0, MAX_MESSAGE_LENGTH)),
    phases: {
      dnsMs: r.phases?.dnsMs ?? 0,
      connectMs: r.phases?.connectMs ?? 0,
      tlsMs: r.phases?.tlsMs ?? 0,
      ttfbMs: r.phases?.ttfbMs ?? 0,
      transferMs: r.phases?.transferMs ?? 0,
    },
    seq: Number(r.seq),
    attempts: r.attempts,
    // The probed URL's query values may be credentials (?token=): never stored in ClickHouse.
    target: maskUrlQuery(r.target).slice(0, MAX_TARGET_LENGTH),
    canary: r.canary,
    lagMs: r.lagMs,
    httpStatus: r.httpStatus,
    bodyBytes: Number(r.bodyBytes),
    details: details(r),
  };
}
