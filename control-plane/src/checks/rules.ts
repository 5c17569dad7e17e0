import { isIP } from "node:net";
import { isSubjectToken, jsonPathProblem } from "@probemesh/proto";
import { userRegexProblem } from "@probemesh/proto/regex";
import type { Rule as StringRule } from "../schemas/fields.js";

/** Pattern of a check id: also safe in URLs, file names and (encoded) NATS KV keys. */
export const CHECK_ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** Rule: a check id. */
export const checkId: StringRule = (v) =>
  CHECK_ID_PATTERN.test(v) ? undefined : "must match [a-z0-9][a-z0-9_.-]{0,62} (lower case, at most 63 characters)";

/** Rule: a region or agent id, which is also one NATS subject token. */
export const subjectToken: StringRule = (v) =>
  isSubjectToken(v) ? undefined : "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'";

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** True for a DNS name (optionally with a trailing dot) of at most 253 characters. */
export function isHostname(v: string): boolean {
  const name = v.endsWith(".") ? v.slice(0, -1) : v;
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => LABEL.test(label));
}

/** Rule: a host name or an IP address. */
export const host: StringRule = (v) =>
  isIP(v) !== 0 || isHostname(v) ? undefined : "must be a host name or an IP address";

/** Rule: "host:port" or "[ipv6]:port". */
export const hostPort: StringRule = (v) => {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(v) ?? /^([^:[\]]+):(\d{1,5})$/.exec(v);
  if (!m) return "must be host:port (use [addr]:port for IPv6)";
  const [, h = "", p = ""] = m;
  if (isIP(h) === 0 && !isHostname(h)) return "must be host:port with a valid host";
  const port = Number(p);
  if (port < 1 || port > 65535) return "must be host:port with a port between 1 and 65535";
  return undefined;
};

/** Rule: an HTTP header (field) name, RFC 9110 token. */
export const headerName: StringRule = (v) =>
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/.test(v) ? undefined : "must be a valid HTTP header name";

/** Rule: an HTTP header value; the message never echoes the value, which may be a secret. */
export const headerValue: StringRule = (v) => (/[\r\n\0]/.test(v) ? "must not contain CR, LF or NUL" : undefined);

/** Rule: gRPC metadata key (lower case, not a reserved "grpc-" key). */
export const metadataKey: StringRule = (v) => {
  if (!/^[0-9a-z_.-]{1,256}$/.test(v)) return "must be lower case 0-9 a-z _ . - (gRPC metadata key)";
  if (v.startsWith("grpc-")) return "must not start with the reserved prefix grpc-";
  return undefined;
};

/**
 * Rule: a user regular expression the agent can run: RE2 syntax (linear time), with the size caps
 * of `@probemesh/proto/regex`; backreferences and lookaround are refused with the reason.
 */
export const regex: StringRule = userRegexProblem;

/** Rule: a JSON path of the grammar the agent reads (`@probemesh/proto` parseJsonPath). */
export const jsonPath: StringRule = (v) => {
  const problem = jsonPathProblem(v);
  return problem === undefined ? undefined : `is not a JSON path (${problem}); use items.0.name or $.items[0].name`;
};

/** Rule: a PEM certificate bundle. */
export const pemCertificates: StringRule = (v) =>
  /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(v)
    ? undefined
    : "must be PEM (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)";

/** Rule: a JSON document. */
export const json: StringRule = (v) => {
  try {
    JSON.parse(v);
    return undefined;
  } catch {
    return 'must be JSON-encoded (e.g. "\\"ok\\"" or "42")';
  }
};

/** Rule: one of a fixed set of values (exact match). */
export function oneOf(values: readonly string[]): StringRule {
  return (v) => (values.includes(v) ? undefined : `must be one of ${values.map((x) => JSON.stringify(x)).join(", ")}`);
}

/** Label keys: like Kubernetes label names without a prefix (letters, digits, `_ . -`, 1-63 characters). */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

/** A label key. */
export const labelKey: StringRule = (v) =>
  LABEL_KEY_PATTERN.test(v)
    ? undefined
    : "must be 1-63 characters: letters, digits, _ . - (starting and ending with a letter or digit)";

/** A label value: at most 63 characters, none of them a control character (may be empty). */
export const labelValue: StringRule = (v) => {
  if (v.length > 63) return "must be at most 63 characters";
  for (const ch of v) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return "must not contain control characters";
  }
  return undefined;
};
