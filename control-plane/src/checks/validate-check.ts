import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  CheckSchema,
  DnsCheckSchema,
  GrpcCheckSchema,
  HttpCheckSchema,
  IcmpCheckSchema,
  TcpCheckSchema,
  TlsCheckSchema,
  CHECK_TYPES,
  DNS_RCODES,
  DNS_RECORD_TYPES,
  DNS_TRANSPORTS,
  HTTP_METHODS,
  IP_PREFERENCES,
  TLS_PROTOCOLS,
  type Check,
  type CheckType,
} from "@probemesh/proto";
import { ValidationError } from "../errors.js";
import { isJsonObject, JsonReader } from "./json-reader.js";
import { Problems } from "./problems.js";
import * as rule from "./rules.js";

// The vocabulary lives once in proto (the agent implements exactly it); re-exported for this
// package's public surface.
export { CHECK_TYPES, HTTP_METHODS, type CheckType } from "@probemesh/proto";

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

// Read-only fields of the API form: accepted (so a GET body can be PUT back) and ignored.
const READ_ONLY = ["version", "createdAt", "updatedAt"];
const TOP_LEVEL = [
  "id",
  "type",
  "intervalMs",
  "timeoutMs",
  "regions",
  "retries",
  "canary",
  "failureThreshold",
  "recoveryThreshold",
  "quorum",
  "degradedAfterMs",
  ...CHECK_TYPES,
];

/** Options of {@link validateCheck}. */
export interface ValidateCheckOptions {
  /** "create" needs an id in the body; "replace" takes it from `id` (a body id must then match). */
  mode: "create" | "replace";
  /** The id from the URL path, for "replace". */
  id?: string;
}

/**
 * Validates the API form of a check (the proto3 JSON of `probemesh.v1.Check`, lowerCamelCase names)
 * and returns the normalised proto message with defaults filled in. Throws a ValidationError whose
 * `details.field` names the first bad field and `details.problems` lists all of them.
 */
export function validateCheck(json: unknown, opts: ValidateCheckOptions): Check {
  const problems = new Problems();
  if (!isJsonObject(json)) {
    throw new ValidationError("invalid check: must be a JSON object", {
      field: "check",
      problems: [{ field: "check", message: "must be a JSON object" }],
    });
  }
  const r = new JsonReader(json, "", problems, TOP_LEVEL, READ_ONLY);

  let id: string | undefined;
  if (opts.mode === "replace") {
    const pathId = opts.id ?? "";
    if (!rule.CHECK_ID_PATTERN.test(pathId)) problems.add("id", rule.checkId(pathId) ?? "is invalid");
    const bodyId = r.string("id", { max: 63, rule: rule.checkId });
    if (bodyId && bodyId !== pathId) r.problem("id", `must match the id in the path (${JSON.stringify(pathId)})`);
    id = pathId;
  } else {
    id = r.string("id", { required: true, max: 63, rule: rule.checkId });
  }

  const type = r.string("type", { required: true, max: 16, rule: rule.oneOf(CHECK_TYPES) }) as CheckType | undefined;
  if (type) {
    for (const other of CHECK_TYPES) {
      if (other !== type && r.has(other)) r.problem(other, `must be absent for a ${type} check`);
    }
    if (!r.has(type)) r.problem(type, `is required for a ${type} check`);
  }

  const intervalMs = r.int("intervalMs", { min: MIN_INTERVAL_MS, max: MAX_INTERVAL_MS }) ?? DEFAULT_INTERVAL_MS;
  const maxTimeout = Math.min(intervalMs, MAX_TIMEOUT_MS);
  let timeoutMs: number;
  if (r.has("timeoutMs")) {
    timeoutMs = r.int("timeoutMs", { min: MIN_TIMEOUT_MS, max: maxTimeout }) ?? maxTimeout;
  } else {
    timeoutMs = Math.min(DEFAULT_TIMEOUT_MS, intervalMs);
  }
  const regions = r.stringList("regions", { maxItems: 64, maxLength: 64, rule: rule.subjectToken, unique: true });
  const retries = r.int("retries", { min: 0, max: 10 }) ?? 0;
  const canary = r.bool("canary");
  const failureThreshold = r.int("failureThreshold", { min: 1, max: 100 }) ?? DEFAULT_THRESHOLD;
  const recoveryThreshold = r.int("recoveryThreshold", { min: 1, max: 100 }) ?? DEFAULT_THRESHOLD;
  const quorum = readQuorum(r);
  const degradedAfterMs = r.int("degradedAfterMs", { min: 0, max: timeoutMs }) ?? 0;

  const init: MessageInitShape<typeof CheckSchema> = {
    id: id ?? "",
    type: type ?? "",
    intervalMs,
    timeoutMs,
    regions: regions ?? [],
    retries,
    canary: canary ?? false,
    failureThreshold,
    recoveryThreshold,
    quorum,
    degradedAfterMs,
  };
  if (type === "http") init.http = r.object("http", HTTP_FIELDS, (h) => readHttp(h, timeoutMs));
  else if (type === "tcp") init.tcp = r.object("tcp", TCP_FIELDS, readTcp);
  else if (type === "dns") init.dns = r.object("dns", DNS_FIELDS, readDns);
  else if (type === "tls") init.tls = r.object("tls", TLS_FIELDS, readTls);
  else if (type === "grpc") init.grpc = r.object("grpc", GRPC_FIELDS, readGrpc);
  else if (type === "icmp") init.icmp = r.object("icmp", ICMP_FIELDS, readIcmp);

  problems.throwIfAny("check");
  return create(CheckSchema, init);
}

function readQuorum(r: JsonReader): string {
  const value = r.raw("quorum");
  if (value === undefined || value === null || value === "") return DEFAULT_QUORUM;
  if (typeof value === "number") {
    if (Number.isInteger(value) && value >= 1 && value <= 1000) return String(value);
  } else if (typeof value === "string") {
    if (value === "majority" || value === "all" || value === "any") return value;
    if (/^[1-9][0-9]{0,3}$/.test(value) && Number(value) <= 1000) return value;
  }
  r.problem("quorum", 'must be "majority", "all", "any" or a number of regions between 1 and 1000');
  return DEFAULT_QUORUM;
}

const HTTP_FIELDS = [
  "url",
  "method",
  "headers",
  "body",
  "expectStatus",
  "bodyContains",
  "followRedirects",
  "maxBodyBytes",
  "bodyRegex",
  "bodyNotRegex",
  "headerMatch",
  "jsonPath",
  "maxResponseTimeMs",
  "ipPreference",
  "allIps",
  "insecureSkipVerify",
  "caPem",
];

function readHttp(r: JsonReader, timeoutMs: number): MessageInitShape<typeof HttpCheckSchema> {
  const url = r.string("url", { required: true, max: 2048, rule: httpUrl });
  const method = r.string("method", { max: 16 })?.toUpperCase() || "GET";
  if (!(HTTP_METHODS as readonly string[]).includes(method))
    r.problem("method", rule.oneOf(HTTP_METHODS)(method) ?? "");
  const headers = r.stringMap("headers", { maxEntries: 64, keyRule: rule.headerName, valueRule: rule.headerValue });
  if (headers) {
    const seen = new Set<string>();
    for (const name of Object.keys(headers)) {
      const lower = name.toLowerCase();
      if (seen.has(lower))
        r.problem("headers", `names ${JSON.stringify(name)} twice (header names are case-insensitive)`);
      seen.add(lower);
    }
  }
  return {
    url: url ?? "",
    method,
    headers: headers ?? {},
    body: r.string("body", { max: 65_536 }) ?? "",
    expectStatus: readExpectStatus(r),
    bodyContains: r.string("bodyContains", { max: 4096 }) ?? "",
    followRedirects: r.bool("followRedirects") ?? false,
    maxBodyBytes: r.int("maxBodyBytes", { min: 0, max: 16 * 1024 * 1024 }) ?? 0,
    bodyRegex: r.stringList("bodyRegex", { maxItems: 16, rule: rule.regex }) ?? [],
    bodyNotRegex: r.stringList("bodyNotRegex", { maxItems: 16, rule: rule.regex }) ?? [],
    headerMatch:
      r.objectList("headerMatch", 16, ["name", "regex", "negate"], (h) => {
        const name = h.string("name", { required: true, max: 256, rule: rule.headerName });
        const re = h.string("regex", { required: true, rule: rule.regex });
        const negate = h.bool("negate");
        return name && re !== undefined && negate !== undefined ? { name, regex: re, negate } : undefined;
      }) ?? [],
    jsonPath:
      r.objectList("jsonPath", 16, ["path", "equals"], (j) => {
        const path = j.string("path", { required: true, max: 256 });
        const equals = j.string("equals", { max: 4096, rule: rule.json });
        return path && equals !== undefined ? { path, equals } : undefined;
      }) ?? [],
    maxResponseTimeMs: r.int("maxResponseTimeMs", { min: 0, max: timeoutMs }) ?? 0,
    ipPreference: r.string("ipPreference", { max: 8, rule: rule.oneOf(IP_PREFERENCES) }) ?? "",
    allIps: r.bool("allIps") ?? false,
    insecureSkipVerify: r.bool("insecureSkipVerify") ?? false,
    caPem: r.string("caPem", { max: 65_536, rule: rule.pemCertificates }) ?? "",
  };
}

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

function readExpectStatus(r: JsonReader): string[] {
  const value = r.raw("expectStatus");
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    r.problem("expectStatus", 'must be an array of status codes (200) or classes ("2xx")');
    return [];
  }
  if (value.length > 32) {
    r.problem("expectStatus", "must have at most 32 items");
    return [];
  }
  const out: string[] = [];
  value.forEach((item: unknown, i) => {
    const field = `expectStatus[${i}]`;
    let normalised: string | undefined;
    if (typeof item === "number" && Number.isInteger(item) && item >= 100 && item <= 599) normalised = String(item);
    else if (typeof item === "string" && /^[1-5][0-9][0-9]$/.test(item)) normalised = item;
    else if (typeof item === "string" && /^[1-5]xx$/i.test(item)) normalised = item.toLowerCase();
    if (normalised === undefined) {
      r.problem(field, 'must be a status code between 100 and 599 or a class "1xx".."5xx"');
      return;
    }
    if (!out.includes(normalised)) out.push(normalised);
  });
  return out;
}

const TCP_FIELDS = ["host", "port"];

function readTcp(r: JsonReader): MessageInitShape<typeof TcpCheckSchema> {
  return {
    host: r.string("host", { required: true, max: 253, rule: rule.host }) ?? "",
    port: r.int("port", { min: 1, max: 65535, required: true }) ?? 0,
  };
}

const DNS_FIELDS = [
  "name",
  "recordType",
  "resolver",
  "transport",
  "expectRcode",
  "expectAnswers",
  "answersContain",
  "answerRegex",
];

function readDns(r: JsonReader): MessageInitShape<typeof DnsCheckSchema> {
  const name = r.string("name", {
    required: true,
    max: 254,
    rule: (v) => (isHostnameOrRoot(v) ? undefined : "must be a DNS name"),
  });
  return {
    name: name ?? "",
    recordType: r.string("recordType", { max: 8, rule: rule.oneOf(DNS_RECORD_TYPES) }) || "A",
    resolver: r.string("resolver", { max: 300, rule: rule.hostPort }) ?? "",
    transport: r.string("transport", { max: 8, rule: rule.oneOf(DNS_TRANSPORTS) }) || "udp",
    expectRcode: r.string("expectRcode", { max: 16, rule: rule.oneOf(DNS_RCODES) }) || "NOERROR",
    expectAnswers: r.stringList("expectAnswers", { maxItems: 64, maxLength: 512 }) ?? [],
    answersContain: r.stringList("answersContain", { maxItems: 64, maxLength: 512 }) ?? [],
    answerRegex: r.string("answerRegex", { rule: rule.regex }) ?? "",
  };
}

function isHostnameOrRoot(v: string): boolean {
  return v === "." || rule.isHostname(v);
}

const TLS_FIELDS = ["host", "port", "serverName", "minDaysRemaining", "caPem", "minProtocol", "insecureSkipVerify"];

function readTls(r: JsonReader): MessageInitShape<typeof TlsCheckSchema> {
  return {
    host: r.string("host", { required: true, max: 253, rule: rule.host }) ?? "",
    port: r.int("port", { min: 1, max: 65535 }) ?? 443,
    serverName:
      r.string("serverName", { max: 253, rule: (v) => (rule.isHostname(v) ? undefined : "must be a DNS name") }) ?? "",
    minDaysRemaining: r.int("minDaysRemaining", { min: 0, max: 3650 }) ?? 0,
    caPem: r.string("caPem", { max: 65_536, rule: rule.pemCertificates }) ?? "",
    minProtocol: r.string("minProtocol", { max: 8, rule: rule.oneOf(TLS_PROTOCOLS) }) || "TLSv1.2",
    insecureSkipVerify: r.bool("insecureSkipVerify") ?? false,
  };
}

const GRPC_FIELDS = ["address", "service", "tls", "metadata", "caPem", "insecureSkipVerify"];

function readGrpc(r: JsonReader): MessageInitShape<typeof GrpcCheckSchema> {
  return {
    address: r.string("address", { required: true, max: 300, rule: rule.hostPort }) ?? "",
    service:
      r.string("service", {
        max: 256,
        rule: (v) =>
          /^[A-Za-z0-9_.]+$/.test(v) ? undefined : "must be a fully-qualified service name (A-Z a-z 0-9 _ .)",
      }) ?? "",
    tls: r.bool("tls") ?? false,
    metadata: r.stringMap("metadata", { maxEntries: 32, keyRule: rule.metadataKey, valueRule: rule.headerValue }) ?? {},
    caPem: r.string("caPem", { max: 65_536, rule: rule.pemCertificates }) ?? "",
    insecureSkipVerify: r.bool("insecureSkipVerify") ?? false,
  };
}

const ICMP_FIELDS = ["host", "packets", "maxLossPercent"];

function readIcmp(r: JsonReader): MessageInitShape<typeof IcmpCheckSchema> {
  return {
    host: r.string("host", { required: true, max: 253, rule: rule.host }) ?? "",
    packets: r.int("packets", { min: 1, max: 100 }) ?? 3,
    maxLossPercent: r.int("maxLossPercent", { min: 0, max: 100 }) ?? 0,
  };
}
