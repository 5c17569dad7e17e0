import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

// Standard Webhooks (standardwebhooks.com): the sender signs `${id}.${timestamp}.${body}` with
// HMAC-SHA256 under the base64 key that follows "whsec_", and sends "v1,<base64>" signatures,
// space separated (one per secret while a secret is being rotated).

/** Prefix of a Standard Webhooks secret. */
export const SECRET_PREFIX = "whsec_";
/** How far a `webhook-timestamp` may be from now before verification rejects it. @default 300 */
export const DEFAULT_TOLERANCE_SEC = 300;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Headers a signed delivery carries (a type alias, so it can be passed straight to verifyWebhook). */
export type WebhookHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

/** Why a secret is not a valid Standard Webhooks secret, or undefined when it is. */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with "${SECRET_PREFIX}"`;
  const b64 = secret.slice(SECRET_PREFIX.length);
  if (!BASE64.test(b64) || b64.length % 4 !== 0) return `must be "${SECRET_PREFIX}" followed by base64`;
  const len = Buffer.from(b64, "base64").length;
  if (len < 24 || len > 64) return "must hold 24 to 64 bytes of key (base64 after whsec_)";
  return undefined;
}

/** A new random secret (`whsec_` + 32 random bytes in base64). */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64");
}

function keyOf(secret: string): Buffer {
  const problem = secretProblem(secret);
  if (problem) throw new TypeError(`webhook secret ${problem}`);
  return Buffer.from(secret.slice(SECRET_PREFIX.length), "base64");
}

function sign(key: Buffer, id: string, timestamp: string, body: string): string {
  return createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
}

/**
 * Signs one delivery: the headers for `body` with id `id` sent at `timestampSec` (Unix seconds),
 * with one "v1," signature per secret (current first, then the ones being rotated out).
 */
export function signWebhook(
  secrets: string | readonly string[],
  id: string,
  timestampSec: number,
  body: string,
): WebhookHeaders {
  const list = typeof secrets === "string" ? [secrets] : secrets;
  if (list.length === 0) throw new TypeError("signWebhook needs at least one secret");
  const timestamp = String(Math.floor(timestampSec));
  const signature = list.map((s) => `v1,${sign(keyOf(s), id, timestamp, body)}`).join(" ");
  return { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature };
}

/** Options of {@link verifyWebhook}. */
export interface VerifyOptions {
  /** Largest accepted distance between `webhook-timestamp` and now, in seconds. @default 300 */
  toleranceSec?: number;
  /** Clock in epoch ms. @default Date.now */
  now?: () => number;
}

/** Thrown by {@link verifyWebhook} when a delivery must be rejected; `reason` says why. */
export class WebhookVerificationError extends Error {
  override name = "WebhookVerificationError";
  constructor(
    readonly reason: "missing_header" | "bad_timestamp" | "stale" | "future" | "no_match",
    message: string,
  ) {
    super(message);
  }
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const rec = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : rec[key];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Verifies a Standard Webhooks delivery for consumers: `headers` (a fetch `Headers`, or a Node
 * `IncomingHttpHeaders`-like record) and the raw `body` exactly as received. Accepts when any
 * "v1," signature matches any of `secrets` and the timestamp is within `toleranceSec` of now.
 * Returns the parsed JSON body; throws {@link WebhookVerificationError} otherwise.
 */
export function verifyWebhook<T = unknown>(
  secrets: string | readonly string[],
  headers: HeaderSource,
  body: string | Buffer,
  opts: VerifyOptions = {},
): T {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      "missing_header",
      "missing webhook-id, webhook-timestamp or webhook-signature header",
    );
  }
  if (!/^\d{1,12}$/.test(timestamp))
    throw new WebhookVerificationError("bad_timestamp", "webhook-timestamp is not Unix seconds");
  const nowSec = Math.floor((opts.now ?? Date.now)() / 1000);
  const tolerance = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  const ts = Number(timestamp);
  if (nowSec - ts > tolerance) throw new WebhookVerificationError("stale", "webhook-timestamp is too old");
  if (ts - nowSec > tolerance)
    throw new WebhookVerificationError("future", "webhook-timestamp is too far in the future");
  const text = typeof body === "string" ? body : body.toString("utf8");
  const list = typeof secrets === "string" ? [secrets] : secrets;
  const offered = signatures
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .map((s) => Buffer.from(s.slice(3), "base64"));
  for (const secret of list) {
    const expected = Buffer.from(sign(keyOf(secret), id, timestamp, text), "base64");
    if (offered.some((o) => o.length === expected.length && timingSafeEqual(o, expected))) {
      return JSON.parse(text) as T;
    }
  }
  throw new WebhookVerificationError("no_match", "no webhook-signature matches the secret");
}
