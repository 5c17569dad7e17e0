import { z } from "@hono/zod-openapi";
import {
  CHECK_TYPES,
  DNS_RCODES,
  DNS_RECORD_TYPES,
  DNS_TRANSPORTS,
  HTTP_METHODS,
  IP_PREFERENCES,
  TLS_PROTOCOLS,
  type CheckType,
} from "@probemesh/proto";
import {
  bool,
  boundedLater,
  choice,
  evenWithFieldProblems,
  int,
  object,
  objectList,
  oneOf,
  requiredInt,
  requiredText,
  text,
  textList,
  textMap,
} from "../schemas/fields.js";
import * as rule from "./rules.js";

/** Shortest interval between two runs of a check. */
export const MIN_INTERVAL_MS = 1000;
/** Longest interval between two runs of a check (one day). */
export const MAX_INTERVAL_MS = 86_400_000;
/** Interval when none is given. @default 60000 */
export const DEFAULT_INTERVAL_MS = 60_000;
/** Shortest run deadline. */
export const MIN_TIMEOUT_MS = 100;
/** Longest run deadline (also bounded by the interval). */
export const MAX_TIMEOUT_MS = 60_000;
/** Deadline when none is given (bounded by the interval). @default 10000 */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Consecutive failures/successes needed to change a region's state when none is given. @default 2 */
export const DEFAULT_THRESHOLD = 2;
/** Global quorum when none is given. @default "majority" */
export const DEFAULT_QUORUM = "majority";
/** Most checks one check may depend on. */
export const MAX_DEPENDS_ON = 32;
/** Most labels on one check. */
export const MAX_LABELS = 32;
/** Longest check name. */
export const MAX_NAME = 200;
/** Longest check description. */
export const MAX_DESCRIPTION = 2000;

const QUORUM_MESSAGE = 'must be "majority", "all", "any" or a number of regions between 1 and 1000';
const STATUS_MESSAGE = 'must be a status code between 100 and 599 or a class "1xx".."5xx"';

function httpUrl(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "must be an absolute http or https URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an absolute http or https URL";
  if (url.username !== "" || url.password !== "") {
    return "must not contain credentials; send them in an Authorization header (headers are masked in responses)";
  }
  return undefined;
}

const pem = () => text({ max: 65_536, rule: rule.pemCertificates });

/** Status codes (numbers or digit strings) and classes ("2xx"), normalised to strings without repeats. */
const expectStatus = z
  .array(
    z.union(
      [
        z.int({ error: STATUS_MESSAGE }).min(100, { error: STATUS_MESSAGE }).max(599, { error: STATUS_MESSAGE }),
        z.string({ error: STATUS_MESSAGE }).regex(/^[1-5][0-9][0-9]$/, { error: STATUS_MESSAGE }),
        z.string({ error: STATUS_MESSAGE }).regex(/^[1-5][xX][xX]$/, { error: STATUS_MESSAGE }),
      ],
      { error: STATUS_MESSAGE },
    ),
    { error: () => 'must be an array of status codes (200) or classes ("2xx")' },
  )
  .max(32, "must have at most 32 items")
  .nullish()
  .transform((list) => [...new Set((list ?? []).map((s) => String(s).toLowerCase()))])
  .openapi({ example: [200, "3xx"] });

const headerMatch = object({
  name: requiredText({ max: 256, rule: rule.headerName }),
  regex: requiredText({ rule: rule.regex }),
  negate: bool(),
}).openapi("HeaderMatch");

const jsonPath = object({
  path: requiredText({ max: 256, rule: rule.jsonPath }).openapi({
    description: '`$` (the document), `items.0.name`, `$.items[0].name`, `$["a.b"]`',
  }),
  equals: text({ max: 4096, rule: rule.json }).openapi({ description: "JSON-encoded expected value", example: '"ok"' }),
}).openapi("JsonPathAssertion");

/** Options of an http check. Header values and the body are secrets: masked in responses. */
export const HttpCheckBody = object({
  url: requiredText({ max: 2048, rule: httpUrl }).openapi({ example: "https://example.com/health" }),
  method: text({ max: 16, rule: (v) => oneOf(HTTP_METHODS)(v.toUpperCase()), default: "GET" })
    .transform((v) => v.toUpperCase())
    .openapi({ enum: [...HTTP_METHODS], description: "case-insensitive" }),
  headers: textMap({
    maxEntries: 64,
    keyRule: rule.headerName,
    valueRule: rule.headerValue,
    caseInsensitive: true,
  }).openapi({ description: "values are masked (***) in responses; send *** back to keep a stored value" }),
  body: text({ max: 65_536 }).openapi({ description: "masked (***) in responses" }),
  expectStatus,
  bodyContains: text({ max: 4096 }),
  followRedirects: bool(),
  maxBodyBytes: int(0, 16 * 1024 * 1024, 0),
  bodyRegex: textList({ maxItems: 16, rule: rule.regex }),
  bodyNotRegex: textList({ maxItems: 16, rule: rule.regex }),
  headerMatch: objectList(headerMatch, 16),
  jsonPath: objectList(jsonPath, 16),
  maxResponseTimeMs: boundedLater(0, MAX_TIMEOUT_MS).openapi({ description: "at most timeoutMs; 0 = no limit" }),
  ipPreference: choice(IP_PREFERENCES, "", 8),
  allIps: bool(),
  insecureSkipVerify: bool(),
  caPem: pem(),
}).openapi("HttpCheck");

/** Options of a tcp check. */
export const TcpCheckBody = object({
  host: requiredText({ max: 253, rule: rule.host }),
  port: requiredInt(1, 65535),
}).openapi("TcpCheck");

/** Options of a dns check. */
export const DnsCheckBody = object({
  name: requiredText({
    max: 254,
    rule: (v) => (v === "." || rule.isHostname(v) ? undefined : "must be a DNS name"),
  }).openapi({ example: "example.com" }),
  recordType: choice(DNS_RECORD_TYPES, "A", 8),
  resolver: text({ max: 300, rule: rule.hostPort }).openapi({ example: "1.1.1.1:53" }),
  transport: choice(DNS_TRANSPORTS, "udp", 8),
  expectRcode: choice(DNS_RCODES, "NOERROR", 16),
  expectAnswers: textList({ maxItems: 64, maxLength: 512 }),
  answersContain: textList({ maxItems: 64, maxLength: 512 }),
  answerRegex: text({ rule: rule.regex }),
}).openapi("DnsCheck");

/** Options of a tls check. */
export const TlsCheckBody = object({
  host: requiredText({ max: 253, rule: rule.host }),
  port: int(1, 65535, 443),
  serverName: text({ max: 253, rule: (v) => (rule.isHostname(v) ? undefined : "must be a DNS name") }),
  minDaysRemaining: int(0, 3650, 0),
  caPem: pem(),
  minProtocol: choice(TLS_PROTOCOLS, "TLSv1.2", 8),
  insecureSkipVerify: bool(),
}).openapi("TlsCheck");

/** Options of a grpc (health) check. Metadata values are secrets: masked in responses. */
export const GrpcCheckBody = object({
  address: requiredText({ max: 300, rule: rule.hostPort }).openapi({ example: "10.0.0.5:50051" }),
  service: text({
    max: 256,
    rule: (v) => (/^[A-Za-z0-9_.]+$/.test(v) ? undefined : "must be a fully-qualified service name (A-Z a-z 0-9 _ .)"),
  }),
  tls: bool(),
  metadata: textMap({ maxEntries: 32, keyRule: rule.metadataKey, valueRule: rule.headerValue }),
  caPem: pem(),
  insecureSkipVerify: bool(),
}).openapi("GrpcCheck");

/** Options of an icmp check. */
export const IcmpCheckBody = object({
  host: requiredText({ max: 253, rule: rule.host }),
  packets: int(1, 100, 3),
  maxLossPercent: int(0, 100, 0),
}).openapi("IcmpCheck");

const quorum = z
  .union(
    [
      z.int({ error: QUORUM_MESSAGE }).min(1, { error: QUORUM_MESSAGE }).max(1000, { error: QUORUM_MESSAGE }),
      z.enum(["majority", "all", "any", ""], { error: QUORUM_MESSAGE }),
      z
        .string({ error: QUORUM_MESSAGE })
        .regex(/^[1-9][0-9]{0,3}$/, { error: QUORUM_MESSAGE })
        .refine((v) => Number(v) <= 1000, { error: QUORUM_MESSAGE }),
    ],
    { error: QUORUM_MESSAGE },
  )
  .nullish()
  .transform((v) => (v === undefined || v === null || v === "" ? DEFAULT_QUORUM : String(v)))
  .openapi({ default: DEFAULT_QUORUM, example: "majority" });

// Read-only fields of the API form: accepted (so a GET body can be PUT back) and ignored.
const readOnly = (description: string) =>
  z.unknown().optional().openapi({ type: "integer", readOnly: true, description });

/** The deadline of a run: `timeoutMs` when given and valid, else bounded by the interval. */
export function effectiveTimeout(intervalMs: number, timeoutMs: unknown): number {
  const max = Math.min(intervalMs, MAX_TIMEOUT_MS);
  if (timeoutMs === undefined || timeoutMs === null) return Math.min(DEFAULT_TIMEOUT_MS, intervalMs);
  return typeof timeoutMs === "number" && Number.isInteger(timeoutMs) && timeoutMs >= MIN_TIMEOUT_MS && timeoutMs <= max
    ? timeoutMs
    : max;
}

const inRange = (v: unknown, min: number, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;

/** An advisory in a create or replace response: the check is stored, but may not decide as meant. */
export const CheckWarningSchema = z
  .object({
    field: z.string().openapi({ example: "regions[1]" }),
    message: z.string().openapi({ example: 'no agent has registered for region "eu-wset"; did you mean "eu-west"?' }),
  })
  .openapi("CheckWarning");

// Only create and replace responses carry it, never stored; accepted (whatever it holds) and
// ignored in requests, so that a response can be PUT back as it came.
const warnings = z
  .unknown()
  .optional()
  .openapi({
    type: "array",
    items: { $ref: "#/components/schemas/CheckWarning" },
    readOnly: true,
    description:
      "create/replace responses only, when there are any: listed regions no agent has registered for " +
      "(or none that can run the type), a numeric quorum larger than the regions that can run the check",
  });

function checkShape(id: z.ZodType<string>) {
  return {
    id: id.openapi({ example: "web", pattern: rule.CHECK_ID_PATTERN.source }),
    type: requiredText({ max: 16, rule: oneOf(CHECK_TYPES) }).openapi({ enum: [...CHECK_TYPES] }),
    name: text({ max: MAX_NAME }).openapi({
      description: `display name, at most ${MAX_NAME} characters`,
      example: "Web front",
    }),
    description: text({ max: MAX_DESCRIPTION }).openapi({
      description: `what the check watches and why, at most ${MAX_DESCRIPTION} characters`,
    }),
    intervalMs: int(MIN_INTERVAL_MS, MAX_INTERVAL_MS, DEFAULT_INTERVAL_MS),
    timeoutMs: boundedLater(MIN_TIMEOUT_MS, MAX_TIMEOUT_MS).openapi({
      description: `at most intervalMs; default ${DEFAULT_TIMEOUT_MS} bounded by intervalMs`,
    }),
    regions: textList({ maxItems: 64, maxLength: 64, rule: rule.subjectToken, unique: true }).openapi({
      description: "regions that run the check; none = every region",
      example: ["eu-west", "us-east"],
    }),
    retries: int(0, 10, 0),
    canary: bool(),
    public: bool().openapi({
      description: "shown (id and global state only) by GET /v1/public/status when PROBEMESH_PUBLIC_STATUS=true",
    }),
    failureThreshold: int(1, 100, DEFAULT_THRESHOLD),
    recoveryThreshold: int(1, 100, DEFAULT_THRESHOLD),
    quorum,
    degradedAfterMs: boundedLater(0, MAX_TIMEOUT_MS).openapi({ description: "at most timeoutMs; 0 = never degraded" }),
    dependsOn: textList({ maxItems: MAX_DEPENDS_ON, maxLength: 63, rule: rule.checkId, unique: true }).openapi({
      description:
        "ids of existing checks this one depends on (no self, no cycles): while one has an open outage, " +
        "this check's incidents are `suppressed` (stored and shown, not announced to hooks)",
      example: ["core-db"],
    }),
    labels: textMap({ maxEntries: MAX_LABELS, keyRule: rule.labelKey, valueRule: rule.labelValue }).openapi({
      description: `at most ${MAX_LABELS}; keys [A-Za-z0-9_.-] (1-63), values at most 63 characters; maintenance windows select checks by them`,
      example: { team: "payments", env: "prod" },
    }),
    http: HttpCheckBody.nullish(),
    tcp: TcpCheckBody.nullish(),
    dns: DnsCheckBody.nullish(),
    tls: TlsCheckBody.nullish(),
    grpc: GrpcCheckBody.nullish(),
    icmp: IcmpCheckBody.nullish(),
    uid: z
      .unknown()
      .optional()
      .openapi({
        type: "string",
        readOnly: true,
        description:
          "immutable identity given at creation (UUID v4); a re-created id gets a new one. " +
          "Ignored on create; a replace carrying another uid is refused (400 naming `uid`)",
        example: "0b6f8e4c-3a52-4c4e-9d7e-7f1d2a9b5c11",
      }),
    version: readOnly("config version: 1 on create, +1 per replace"),
    createdAt: readOnly("epoch ms of creation"),
    updatedAt: readOnly("epoch ms of the last change"),
    warnings,
  };
}

type Shape = ReturnType<typeof checkShape>;

/**
 * Rules between fields: the options object of the type and no other, deadlines within the interval,
 * a numeric quorum no larger than the listed regions (more could never agree: no verdict, ever).
 */
function crossFieldRules(c: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const type = CHECK_TYPES.find((t) => t === c.type);
  if (type) {
    for (const other of CHECK_TYPES) {
      if (other !== type && c[other] !== undefined && c[other] !== null)
        ctx.addIssue({ code: "custom", message: `must be absent for a ${type} check`, path: [other] });
    }
    if (c[type] === undefined || c[type] === null)
      ctx.addIssue({ code: "custom", message: `is required for a ${type} check`, path: [type] });
  }
  const interval = inRange(c.intervalMs, MIN_INTERVAL_MS, MAX_INTERVAL_MS) ? c.intervalMs : DEFAULT_INTERVAL_MS;
  const timeout = effectiveTimeout(interval, c.timeoutMs);
  const within = (v: unknown, min: number, max: number, path: PropertyKey[]) => {
    if (typeof v === "number" && Number.isInteger(v) && (v < min || v > max))
      ctx.addIssue({ code: "custom", message: `must be between ${min} and ${max}, got ${v}`, path });
  };
  within(c.timeoutMs, MIN_TIMEOUT_MS, Math.min(interval, MAX_TIMEOUT_MS), ["timeoutMs"]);
  within(c.degradedAfterMs, 0, timeout, ["degradedAfterMs"]);
  const regions = c.regions;
  if (typeof c.quorum === "string" && /^[0-9]+$/.test(c.quorum) && Array.isArray(regions) && regions.length > 0) {
    const needed = Number(c.quorum);
    if (needed > regions.length)
      ctx.addIssue({
        code: "custom",
        message: `must be at most the number of listed regions (${regions.length}), got ${needed}: the check could never reach a verdict`,
        path: ["quorum"],
      });
  }
  const id = c.id;
  if (typeof id === "string" && Array.isArray(c.dependsOn) && c.dependsOn.includes(id))
    ctx.addIssue({ code: "custom", message: "must not name the check itself", path: ["dependsOn"] });
  const http = c.http;
  if (type === "http" && typeof http === "object" && http !== null)
    within((http as Record<string, unknown>).maxResponseTimeMs, 0, timeout, ["http", "maxResponseTimeMs"]);
}

function checkBody<S extends Shape>(shape: S) {
  // The rules between fields run even when a field failed, so one response lists every problem.
  return object(shape).superRefine(
    (c, ctx) => crossFieldRules(c as Record<string, unknown>, ctx),
    evenWithFieldProblems,
  );
}

/**
 * A check as POST /v1/checks takes it and every read returns it: the proto3 JSON of
 * `probemesh.v1.Check` (lowerCamelCase names), one options object named like the type.
 */
export const CheckBody = checkBody(checkShape(requiredText({ max: 63, rule: rule.checkId }))).openapi("Check", {
  example: {
    id: "web",
    type: "http",
    intervalMs: 30_000,
    timeoutMs: 5_000,
    regions: ["eu-west", "us-east"],
    http: { url: "https://example.com/health", method: "GET", expectStatus: [200] },
  },
});

/** A check as PUT /v1/checks/{id} takes it: the id comes from the path (a body id must match it). */
export const CheckReplaceBody = checkBody(checkShape(text({ max: 63, rule: rule.checkId }))).openapi("CheckReplace");

/** A parsed check body. */
export type CheckBodyOutput = z.output<typeof CheckBody>;

/** One of {@link CHECK_TYPES}, or undefined. */
export function checkTypeOf(value: string): CheckType | undefined {
  return CHECK_TYPES.find((t) => t === value);
}
