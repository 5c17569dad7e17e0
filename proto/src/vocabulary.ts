// The vocabulary agent and control plane must agree on, written once. The control plane's schemas
// accept exactly these values and the agent's probers implement exactly these; a contract test
// proves every accepted check is runnable. The wire carries them as strings (the check's proto3
// JSON is the API form), so they are `as const` lists rather than proto enums.

/** Probe types a check can have; each has an options object of the same name. */
export const CHECK_TYPES = ["http", "tcp", "dns", "tls", "grpc", "icmp"] as const;
/** One of {@link CHECK_TYPES}. */
export type CheckType = (typeof CHECK_TYPES)[number];

/** HTTP methods a check may use. */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
/** One of {@link HTTP_METHODS}. */
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** DNS record types a check may ask for (and the agent can query and render). */
export const DNS_RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "PTR", "CAA"] as const;
/** One of {@link DNS_RECORD_TYPES}. */
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];

/** DNS transports a check may use. */
export const DNS_TRANSPORTS = ["udp", "tcp"] as const;
/** One of {@link DNS_TRANSPORTS}. */
export type DnsTransport = (typeof DNS_TRANSPORTS)[number];

/** DNS response codes a check may expect (RFC 1035 and RFC 2136 codes 0-10, by name). */
export const DNS_RCODES = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
  "YXDOMAIN",
  "YXRRSET",
  "NXRRSET",
  "NOTAUTH",
  "NOTZONE",
] as const;
/** One of {@link DNS_RCODES}; its index in the list is its numeric code. */
export type DnsRcode = (typeof DNS_RCODES)[number];

/** TLS protocol versions, oldest first (a check's minimum and what a TLS result reports). */
export const TLS_PROTOCOLS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;
/** One of {@link TLS_PROTOCOLS}. */
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** Address family preferences of an HTTP check ("" is the system's order). */
export const IP_PREFERENCES = ["ip4", "ip6"] as const;

/**
 * Classified failure reasons of a result. An assertion failure is `assertion:<name>` with a name
 * from {@link ASSERTION_NAMES}. `capability` and `internal` are the prober's own failures.
 */
export const FAILURE_REASONS = [
  "dns",
  "connect",
  "timeout",
  "tls",
  "http_status",
  "protocol",
  "capability",
  "internal",
] as const;
/** One of {@link FAILURE_REASONS}. */
export type FailureReasonName = (typeof FAILURE_REASONS)[number];

/**
 * Failure reasons that are the prober's own failure, not the target's: the check could not be run
 * (invalid or unsupported option, missing capability, a bug). Such a result abstains from consensus.
 */
export const PROBER_ERROR_REASONS = ["internal", "capability"] as const;

/** True when a result's reason says the probe could not run (it never votes `down`). */
export function isProberError(reason: string): boolean {
  return (PROBER_ERROR_REASONS as readonly string[]).includes(reason);
}

/** Names of assertions, as they appear after `assertion:` in a failure reason. */
export const ASSERTION_NAMES = [
  "answer_regex",
  "answers_contain",
  "body_contains",
  "body_not_regex",
  "body_regex",
  "expect_answers",
  "header_match",
  "json_path",
  "max_response_time",
  "packet_loss",
  "rcode",
  "serving_status",
] as const;
/** One of {@link ASSERTION_NAMES}. */
export type AssertionName = (typeof ASSERTION_NAMES)[number];

/** A failure reason as a result carries it: "" when up, a reason, or `assertion:<name>`. */
export type FailureReason = "" | FailureReasonName | `assertion:${AssertionName}`;

/**
 * Capabilities an agent announces: the check types it has a prober for. A check is runnable by an
 * agent whose capabilities include the check's type.
 */
export const CAPABILITIES = CHECK_TYPES;
/** One of {@link CAPABILITIES}. */
export type Capability = CheckType;
