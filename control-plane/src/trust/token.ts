import { createHash, randomBytes } from "node:crypto";

/** Bytes of randomness in a token. */
const TOKEN_BYTES = 32;

/**
 * A new bearer token: `prefix` + 32 random bytes as base64url. The prefix ("pma_" for agents,
 * "pmt_" for API tokens) tells a leaked token's kind at a glance (and to secret scanners).
 */
export function newToken(prefix: string): string {
  return prefix + randomBytes(TOKEN_BYTES).toString("base64url");
}

/**
 * The stored form of a token: SHA-256 as hex. Tokens carry 256 random bits, so a plain hash is
 * enough (no salt or slow hash needed: there is nothing to guess).
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+(\S+)$/i.exec(header.trim());
  return m?.[1];
}
