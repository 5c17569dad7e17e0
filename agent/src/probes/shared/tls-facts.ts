import { TLS_PROTOCOLS, type TlsProtocol } from "@probemesh/proto";
import { checkServerIdentity, type DetailedPeerCertificate, type PeerCertificate, type TLSSocket } from "node:tls";
import type { ProbeOutcome } from "../types.js";

/** TLS facts as a result carries them. */
export type TlsFacts = NonNullable<ProbeOutcome["tls"]>;

/** Renders a certificate name ("CN=x, O=y") the way openssl -nameopt RFC2253-ish readers expect. */
function nameText(name: PeerCertificate["subject"] | undefined): string {
  if (!name) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) {
    for (const value of Array.isArray(v) ? v : [v]) parts.push(`${k}=${String(value)}`);
  }
  return parts.join(", ");
}

function dateMs(text: string | undefined): bigint {
  const ms = text ? Date.parse(text) : NaN;
  return Number.isFinite(ms) && ms > 0 ? BigInt(ms) : 0n;
}

/** SANs without Node's "DNS:" / "IP Address:" prefixes. */
function sans(text: string | undefined): string[] {
  if (!text) return [];
  return text
    .split(/,\s*/)
    .map((s) => s.replace(/^(DNS|IP Address|URI|email):/, "").trim())
    .filter((s) => s !== "")
    .slice(0, 100);
}

/** Walks the presented chain (leaf first), stopping at the self-issued root or a repeat. */
export function chainOf(leaf: DetailedPeerCertificate): DetailedPeerCertificate[] {
  const chain: DetailedPeerCertificate[] = [];
  const seen = new Set<string>();
  let cert: DetailedPeerCertificate | undefined = leaf;
  while (cert && cert.fingerprint256 && !seen.has(cert.fingerprint256) && chain.length < 16) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/** The outcome of verifying a handshake the prober completed with `rejectUnauthorized: false`. */
export interface TlsVerdict {
  facts: TlsFacts;
  /** Why the peer is not trusted (chain or name), empty when verified. */
  verifyError: string;
}

/**
 * Reads the handshake's facts and verifies it ourselves: the handshake never fails on trust, so
 * dates, issuer and fingerprint are recorded even for the certificates we then reject.
 */
export function inspectTls(socket: TLSSocket, hostname: string): TlsVerdict {
  const leaf = socket.getPeerCertificate(true);
  const present = leaf && Object.keys(leaf).length > 0;
  const chain = present ? chainOf(leaf) : [];
  let verifyError = "";
  if (!present) verifyError = "no peer certificate";
  else {
    // Node folds its own name check (against a name we may not have given it) into `authorized`:
    // judge the chain from it, and the name ourselves, for a message that says which failed.
    const nodeError = String(socket.authorizationError ?? "");
    const chainOk = socket.authorized || nodeError === "ERR_TLS_CERT_ALTNAME_INVALID";
    const identity = checkServerIdentity(hostname, leaf);
    const problems: string[] = [];
    if (!chainOk) problems.push(nodeError || "untrusted certificate");
    if (identity) problems.push(identity.message);
    verifyError = problems.join("; ");
  }
  const notAfters = chain.map((c) => dateMs(c.valid_to)).filter((v) => v > 0n);
  const facts: TlsFacts = {
    protocol: socket.getProtocol() ?? "",
    cipher: socket.getCipher()?.name ?? "",
    notBeforeMs: present ? dateMs(leaf.valid_from) : 0n,
    notAfterMs: present ? dateMs(leaf.valid_to) : 0n,
    issuer: present ? nameText(leaf.issuer).slice(0, 256) : "",
    subject: present ? nameText(leaf.subject).slice(0, 256) : "",
    sans: present ? sans(leaf.subjectaltname) : [],
    fingerprintSha256: present ? leaf.fingerprint256 : "",
    chainNotAfterMs: notAfters.length ? notAfters.reduce((a, b) => (b < a ? b : a)) : 0n,
    verified: verifyError === "",
    verifyError: verifyError.slice(0, 256),
  };
  return { facts, verifyError };
}

/** The protocol named by `text` (one of the vocabulary's, which are Node's names), else undefined. */
export function tlsVersion(text: string): TlsProtocol | undefined {
  const v = text.trim();
  return TLS_PROTOCOLS.find((p) => p === v);
}

// TLS_PROTOCOLS is ordered oldest first.
const ORDER: readonly string[] = TLS_PROTOCOLS;

/** True when `negotiated` is older than `minimum` (unknown protocols count as old). */
export function olderThan(negotiated: string, minimum: string): boolean {
  const got = ORDER.indexOf(negotiated);
  const min = ORDER.indexOf(minimum);
  return got < 0 || got < min;
}
