import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type SecureVersion } from "node:tls";
import { abortFailure } from "./abort.js";
import type { Failure } from "./outcome.js";
import type { ResolvedAddress } from "./resolve.js";
import { inspectTls, type TlsFacts } from "./tls-facts.js";

/** Inputs of `tlsHandshake`. */
export interface HandshakeRequest {
  address: ResolvedAddress;
  port: number;
  /** Name sent as SNI and verified against the certificate; an IP literal verifies IP SANs and sends no SNI. */
  serverName: string;
  /** Trusted CAs; undefined means Node's default (system) store. */
  ca: string[] | undefined;
  signal: AbortSignal;
  now: () => number;
}

/** Timings, facts and verification of one handshake; `failure` set when no handshake completed. */
export interface HandshakeResult {
  connectMs?: number;
  tlsMs?: number;
  facts?: TlsFacts;
  /** Why the peer is not trusted; empty when verified. */
  verifyError: string;
  failure?: Failure;
}

/** The address as `ip:port`, bracketing IPv6. */
export function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Connects and completes a TLS handshake that does not fail on trust or on old protocols, so the
 * facts of a bad certificate or an old server are still reported; the caller judges them.
 * Never rejects; closes the connection before returning.
 */
export function tlsHandshake(req: HandshakeRequest): Promise<HandshakeResult> {
  const { now, signal } = req;
  const where = hostPort(req.address.address, req.port);
  return new Promise((resolve) => {
    const t0 = now();
    let tConnect: number | undefined;
    let stage: "connect" | "tls handshake" = "connect";
    let done = false;
    const sockets: Socket[] = [];
    const finish = (r: Omit<HandshakeResult, "connectMs" | "verifyError"> & { verifyError?: string }) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      // Outermost first: destroying the TCP socket under a live TLSSocket crashes Node 20 (SIGSEGV).
      for (const s of sockets.reverse()) s.destroy();
      resolve({ ...(tConnect !== undefined ? { connectMs: tConnect - t0 } : {}), verifyError: "", ...r });
    };
    const onAbort = () => finish({ failure: abortFailure(signal, stage) });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    const raw = netConnect({ host: req.address.address, port: req.port, family: req.address.family });
    sockets.push(raw);
    raw.on("error", (err: NodeJS.ErrnoException) => {
      if (stage === "connect")
        finish({ failure: { reason: "connect", message: `connect to ${where} failed: ${err.code ?? err.message}` } });
      else
        finish({
          failure: { reason: "tls", message: `TLS handshake with ${where} failed: ${err.code ?? err.message}` },
        });
    });
    raw.once("connect", () => {
      if (done) return;
      tConnect = now();
      stage = "tls handshake";
      const minVersion: SecureVersion = "TLSv1";
      const secure = tlsConnect({
        socket: raw,
        ...(isIP(req.serverName) ? {} : { servername: req.serverName }),
        rejectUnauthorized: false,
        // Accept what the server offers so an old protocol is reported as such, not as a failed handshake.
        minVersion,
        ciphers: "DEFAULT:@SECLEVEL=0",
        ...(req.ca ? { ca: req.ca } : {}),
      });
      sockets.push(secure);
      secure.on("error", (err: NodeJS.ErrnoException) => {
        const text = [err.code, err.message].filter(Boolean).join(": ").slice(0, 200);
        finish({ failure: { reason: "tls", message: `TLS handshake with ${where} failed: ${text}` } });
      });
      secure.once("secureConnect", () => {
        if (done) return;
        const tlsMs = now() - (tConnect ?? t0);
        const verdict = inspectTls(secure, req.serverName);
        finish({ tlsMs, facts: verdict.facts, verifyError: verdict.verifyError });
      });
    });
  });
}
