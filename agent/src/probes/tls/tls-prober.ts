import { TLS_PROTOCOLS, type Check } from "@probemesh/proto";
import { rootCertificates } from "node:tls";
import { withDeadline } from "../shared/abort.js";
import { applyDegraded, outcome, type Failure } from "../shared/outcome.js";
import { resolveHost, type LookupFn } from "../shared/resolve.js";
import { withRetries } from "../shared/retry.js";
import { hostPort, tlsHandshake } from "../shared/tls-handshake.js";
import { olderThan, tlsVersion } from "../shared/tls-facts.js";
import type { ProbeContext, ProbeOutcome, Prober } from "../types.js";

/** Dependencies of the TLS prober. */
export interface TlsProberDeps {
  /** Monotonic milliseconds. */
  now: () => number;
  /** Wall-clock epoch milliseconds, for days until expiry. */
  wallNow: () => number;
  lookup: LookupFn;
}

const DAY_MS = 86_400_000;

/**
 * Handshakes with host:port and judges the certificate: trust (system or custom CA), hostname,
 * expiry within `minDaysRemaining` over the whole chain, and the negotiated protocol. Facts are
 * recorded whatever the verdict.
 */
export function createTlsProber(deps: TlsProberDeps): Prober {
  const { now } = deps;
  async function attempt(check: Check, signal: AbortSignal): Promise<ProbeOutcome[]> {
    const started = now();
    const tls = check.tls;
    const invalid = (message: string) => [
      outcome({
        failure: { reason: "internal", message: `invalid check: ${message}` },
        phases: {},
        target: tls ? `${tls.host}:${tls.port}` : "",
        durationMs: 0,
      }),
    ];
    if (!tls || !tls.host || !(tls.port > 0 && tls.port < 65536))
      return invalid("tls.host and tls.port (1-65535) are required");
    const minProtocol = tls.minProtocol === "" ? "TLSv1.2" : tlsVersion(tls.minProtocol);
    if (!minProtocol)
      return invalid(
        `tls.minProtocol ${JSON.stringify(tls.minProtocol.slice(0, 20))} is not one of ${TLS_PROTOCOLS.join(", ")}`,
      );
    const res = await resolveHost(tls.host, { ipPreference: "", all: false, signal, lookup: deps.lookup, now });
    const phases: ProbeOutcome["phases"] = res.dnsMs !== undefined ? { dnsMs: res.dnsMs } : {};
    if (!res.ok)
      return [
        outcome({ failure: res.failure, phases, target: `${tls.host}:${tls.port}`, durationMs: now() - started }),
      ];
    const address = res.addresses[0]!;
    const hs = await tlsHandshake({
      address,
      port: tls.port,
      serverName: tls.serverName || tls.host,
      ca: tls.caPem ? [...rootCertificates, tls.caPem] : undefined,
      signal,
      now,
    });
    if (hs.connectMs !== undefined) phases.connectMs = hs.connectMs;
    if (hs.tlsMs !== undefined) phases.tlsMs = hs.tlsMs;
    let failure: Failure | undefined = hs.failure;
    const facts = hs.facts;
    if (!failure && facts) {
      const daysLeft = (Number(facts.chainNotAfterMs || facts.notAfterMs) - deps.wallNow()) / DAY_MS;
      if (hs.verifyError && !tls.insecureSkipVerify)
        failure = { reason: "tls", message: `certificate not trusted: ${hs.verifyError}` };
      else if (olderThan(facts.protocol, minProtocol))
        failure = {
          reason: "tls",
          message: `negotiated ${facts.protocol || "unknown protocol"}, older than ${minProtocol}`,
        };
      else if (tls.minDaysRemaining > 0 && daysLeft < tls.minDaysRemaining) {
        failure = {
          reason: "tls",
          message: `certificate chain expires in ${daysLeft.toFixed(1)} days, fewer than ${tls.minDaysRemaining}`,
        };
      }
    }
    return [
      outcome({
        ...(failure ? { failure } : {}),
        phases,
        target: hostPort(address.address, tls.port),
        durationMs: now() - started,
        ...(facts ? { tls: facts } : {}),
      }),
    ];
  }
  return {
    type: "tls",
    async run(check: Check, ctx: ProbeContext) {
      const outcomes = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) =>
        withRetries(check.retries, signal, now, () => attempt(check, signal)),
      );
      return outcomes.map((o) => applyDegraded(o, check.degradedAfterMs));
    },
  };
}
