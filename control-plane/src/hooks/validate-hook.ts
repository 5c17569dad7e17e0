import { isIP } from "node:net";
import { ValidationError } from "../errors.js";
import { isJsonObject, JsonReader, type StringRule } from "../checks/json-reader.js";
import { Problems } from "../checks/problems.js";
import * as rule from "../checks/rules.js";
import { generateSecret, secretProblem } from "./signing.js";
import {
  ACTION_HOOK_TYPES,
  HOOK_EVENT_TYPES,
  HOOK_TYPES,
  type AlertmanagerOptions,
  type DnsSwapOptions,
  type HaproxyOptions,
  type Hook,
  type HookEventType,
  type HookType,
  type PagerdutyOptions,
  type PowerdnsOptions,
  type Rfc2136Options,
} from "./types.js";

/** Pattern of a hook id: also one NATS subject token and KV key. */
export const HOOK_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Placeholder the API shows instead of a secret; sending it back in a PUT keeps the stored value. */
export const MASK = "***";
/** Placeholder of a Standard Webhooks secret. */
export const SECRET_MASK = `whsec_${MASK}`;
/** Per-attempt timeout when none is given. @default 10000 */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Delivery deadline when none is given (24 h). @default 86400000 */
export const DEFAULT_DEADLINE_MS = 86_400_000;
/** PagerDuty Events API v2 endpoint, the default `url` of a pagerduty hook. */
export const PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

const HTTP_TYPES: readonly HookType[] = ["webhook", "pagerduty", "alertmanager"];
const READ_ONLY = ["createdAt", "updatedAt", "disabled", "hasSecret"];
const TOP_LEVEL = [
  "id",
  "type",
  "url",
  "secret",
  "previousSecrets",
  "events",
  "checks",
  "cooldownMs",
  "minHoldMs",
  "dryRun",
  "timeoutMs",
  "deadlineMs",
  "haproxy",
  "powerdns",
  "rfc2136",
  "pagerduty",
  "alertmanager",
];
const OPTION_TYPES = ["haproxy", "powerdns", "rfc2136", "pagerduty", "alertmanager"] as const;
const DNS_FIELDS = ["zone", "name", "recordType", "ttl", "primary", "standby", "standbyCheckId", "verifyServer"];

/** Options of {@link validateHook}. */
export interface ValidateHookOptions {
  /** "create" needs an id in the body; "replace" takes it from `id` (a body id must then match). */
  mode: "create" | "replace";
  /** The id from the URL path, for "replace". */
  id?: string;
  /** The stored hook, for "replace": masked or omitted secrets keep their stored values. */
  existing?: Hook;
}

/** A validated hook, and the secret generated for it when none was given (shown to the user once). */
export interface ValidatedHook {
  hook: Hook;
  generatedSecret?: string;
}

const hookIdRule: StringRule = (v) =>
  HOOK_ID_PATTERN.test(v) ? undefined : "must match [a-z0-9][a-z0-9_-]{0,62} (lower case, at most 63 characters)";

function httpUrl(v: string): string | undefined {
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an http or https URL";
    if (u.username || u.password) return "must not carry credentials";
    return undefined;
  } catch {
    return "must be an absolute http or https URL";
  }
}

function fqdn(v: string): string | undefined {
  return v.endsWith(".") && rule.isHostname(v)
    ? undefined
    : 'must be a fully qualified DNS name ending with "." (e.g. "example.test.")';
}

function socketAddress(v: string): string | undefined {
  if (v.startsWith("/")) return v.length > 107 ? "unix socket path must be at most 107 characters" : undefined;
  return rule.hostPort(v) === undefined ? undefined : "must be an absolute unix socket path or host:port";
}

function base64Key(v: string): string | undefined {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0 && Buffer.from(v, "base64").length >= 16
    ? undefined
    : "must be a base64 key of at least 16 bytes";
}

/** A masked value sent back means "keep what is stored"; anything else replaces it. */
function keep(value: string | undefined, stored: string | undefined): string | undefined {
  return value === MASK && stored !== undefined ? stored : value;
}

function readDnsSwap(r: JsonReader, fieldsFromServer?: string): DnsSwapOptions | undefined {
  const zone = r.string("zone", { required: true, max: 253, rule: fqdn });
  const name = r.string("name", { required: true, max: 253, rule: fqdn });
  const recordType = (r.string("recordType", { max: 4, rule: rule.oneOf(["A", "AAAA"]) }) || "A") as "A" | "AAAA";
  const ttl = r.int("ttl", { min: 0, max: 86_400 }) ?? 60;
  const family = recordType === "A" ? 4 : 6;
  const addr: StringRule = (v) =>
    isIP(v) === family ? undefined : `must be an IPv${family} address for ${recordType} records`;
  const primary = r.stringList("primary", { maxItems: 32, maxLength: 45, rule: addr, unique: true });
  const standby = r.stringList("standby", { maxItems: 32, maxLength: 45, rule: addr, unique: true });
  if (primary && primary.length === 0) r.problem("primary", "must list at least one address");
  if (standby && standby.length === 0) r.problem("standby", "must list at least one address");
  const standbyCheckId = r.string("standbyCheckId", { max: 63, rule: rule.checkId });
  const verifyServer = r.string("verifyServer", {
    required: fieldsFromServer === undefined,
    max: 300,
    rule: rule.hostPort,
  });
  if (zone && name && name !== zone && !name.toLowerCase().endsWith(`.${zone.toLowerCase()}`)) {
    r.problem("name", `must be inside the zone ${zone}`);
  }
  if (!zone || !name || !primary || !standby || standbyCheckId === undefined || verifyServer === undefined)
    return undefined;
  const out: DnsSwapOptions = {
    zone,
    name,
    recordType,
    ttl,
    primary,
    standby,
    verifyServer: verifyServer || (fieldsFromServer ?? ""),
  };
  if (standbyCheckId) out.standbyCheckId = standbyCheckId;
  return out;
}

/**
 * Validates the API form of a hook and returns the stored form with defaults filled in. Throws a
 * ValidationError whose `details.field` names the first bad field and `details.problems` lists all
 * of them; messages never echo secret values.
 */
export function validateHook(json: unknown, opts: ValidateHookOptions): ValidatedHook {
  const problems = new Problems();
  if (!isJsonObject(json)) {
    throw new ValidationError("invalid hook: must be a JSON object", {
      field: "hook",
      problems: [{ field: "hook", message: "must be a JSON object" }],
    });
  }
  const r = new JsonReader(json, "", problems, TOP_LEVEL, READ_ONLY);
  const existing = opts.existing;

  let id: string | undefined;
  if (opts.mode === "replace") {
    const pathId = opts.id ?? "";
    const bad = hookIdRule(pathId);
    if (bad) problems.add("id", bad);
    const bodyId = r.string("id", { max: 63, rule: hookIdRule });
    if (bodyId && bodyId !== pathId) r.problem("id", `must match the id in the path (${JSON.stringify(pathId)})`);
    id = pathId;
  } else {
    id = r.string("id", { required: true, max: 63, rule: hookIdRule });
  }

  const type = r.string("type", { required: true, max: 16, rule: rule.oneOf(HOOK_TYPES) }) as HookType | undefined;
  if (type && existing && existing.type !== type)
    r.problem("type", `cannot change from ${existing.type}: delete and create the hook instead`);
  for (const other of OPTION_TYPES) {
    if (other !== type && r.has(other)) r.problem(other, `must be absent for a ${type ?? "hook of another type"} hook`);
  }
  if (type && (OPTION_TYPES as readonly string[]).includes(type) && type !== "alertmanager" && !r.has(type)) {
    r.problem(type, `is required for a ${type} hook`);
  }

  const isHttp = type !== undefined && HTTP_TYPES.includes(type);
  let url = r.string("url", { max: 2048, rule: httpUrl });
  if (type === "pagerduty" && url === "") url = PAGERDUTY_EVENTS_URL;
  if ((type === "webhook" || type === "alertmanager" || type === "powerdns") && url === "")
    r.problem("url", "is required");
  if ((type === "haproxy" || type === "rfc2136") && url) r.problem("url", `must be absent for a ${type} hook`);

  let secret = r.string("secret", { max: 200 });
  let previousSecrets = r.stringList("previousSecrets", { maxItems: 4, maxLength: 200 });
  let generatedSecret: string | undefined;
  if (isHttp) {
    if (secret === SECRET_MASK || (secret === "" && existing?.secret)) secret = existing?.secret ?? "";
    if (secret === "") {
      generatedSecret = generateSecret();
      secret = generatedSecret;
    } else if (secret !== undefined) {
      const bad = secretProblem(secret);
      if (bad) r.problem("secret", bad);
    }
    if (previousSecrets && previousSecrets.length > 0 && previousSecrets.every((s) => s === SECRET_MASK) && existing) {
      previousSecrets = existing.previousSecrets;
    } else {
      previousSecrets?.forEach((s, i) => {
        const bad = secretProblem(s);
        if (bad) problems.add(`previousSecrets[${i}]`, bad);
      });
    }
  } else if (type) {
    if (secret) r.problem("secret", `must be absent: ${type} hooks are not signed`);
    if (previousSecrets && previousSecrets.length > 0)
      r.problem("previousSecrets", `must be absent: ${type} hooks are not signed`);
    secret = "";
    previousSecrets = [];
  }

  const events = r.stringList("events", {
    maxItems: HOOK_EVENT_TYPES.length,
    maxLength: 32,
    rule: rule.oneOf(HOOK_EVENT_TYPES),
    unique: true,
  });
  const checks = r.stringList("checks", { maxItems: 256, maxLength: 63, rule: rule.checkId, unique: true });
  const cooldownMs = r.int("cooldownMs", { min: 0, max: 86_400_000 }) ?? 0;
  const minHoldMs = r.int("minHoldMs", { min: 0, max: 86_400_000 }) ?? 0;
  const dryRun = r.bool("dryRun") ?? false;
  const timeoutMs = r.int("timeoutMs", { min: 100, max: 120_000 }) ?? DEFAULT_TIMEOUT_MS;
  const deadlineMs = r.int("deadlineMs", { min: 1_000, max: 7 * 86_400_000 }) ?? DEFAULT_DEADLINE_MS;

  const hook: Partial<Hook> = {};
  if (type === "haproxy") {
    hook.haproxy = r.object<HaproxyOptions | undefined>("haproxy", ["socket", "backend", "server"], (o) => {
      const socket = o.string("socket", { required: true, max: 300, rule: socketAddress });
      const name: StringRule = (v) =>
        /^[A-Za-z0-9_.:-]{1,64}$/.test(v) ? undefined : "must be an HAProxy proxy/server name";
      const backend = o.string("backend", { required: true, max: 64, rule: name });
      const server = o.string("server", { required: true, max: 64, rule: name });
      return socket && backend && server ? { socket, backend, server } : undefined;
    });
  } else if (type === "powerdns") {
    const stored = existing?.powerdns;
    hook.powerdns = r.object<PowerdnsOptions | undefined>("powerdns", [...DNS_FIELDS, "apiKey", "serverId"], (o) => {
      const swap = readDnsSwap(o);
      const apiKey = keep(o.string("apiKey", { required: true, max: 256, rule: rule.headerValue }), stored?.apiKey);
      const serverId =
        o.string("serverId", {
          max: 64,
          rule: (v) => (/^[A-Za-z0-9_.-]+$/.test(v) ? undefined : "must be a PowerDNS server id"),
        }) || "localhost";
      return swap && apiKey ? { ...swap, apiKey, serverId } : undefined;
    });
  } else if (type === "rfc2136") {
    const stored = existing?.rfc2136;
    hook.rfc2136 = r.object<Rfc2136Options | undefined>("rfc2136", [...DNS_FIELDS, "server", "tsig"], (o) => {
      const server = o.string("server", { required: true, max: 300, rule: rule.hostPort });
      const swap = readDnsSwap(o, server || "");
      const tsig = o.object("tsig", ["name", "algorithm", "secret"], (t) => {
        const name = t.string("name", { required: true, max: 253, rule: rule.host });
        const algorithm = (t.string("algorithm", { max: 32, rule: rule.oneOf(["hmac-sha256"]) }) ||
          "hmac-sha256") as "hmac-sha256";
        const secret = keep(t.string("secret", { required: true, max: 256 }), stored?.tsig.secret);
        if (secret && secret !== MASK) {
          const bad = base64Key(secret);
          if (bad) t.problem("secret", bad);
          else return name ? { name, algorithm, secret } : undefined;
        } else if (secret === MASK)
          t.problem("secret", "is required (the masked value can only be sent back for an existing hook)");
        return undefined;
      });
      if (!o.has("tsig")) o.problem("tsig", "is required");
      return server && swap && tsig ? { ...swap, server, tsig } : undefined;
    });
  } else if (type === "pagerduty") {
    const stored = existing?.pagerduty;
    hook.pagerduty = r.object<PagerdutyOptions | undefined>("pagerduty", ["routingKey", "severity", "source"], (o) => {
      const routingKey = keep(
        o.string("routingKey", {
          required: true,
          max: 64,
          rule: (v) =>
            v === MASK || /^[A-Za-z0-9]{1,64}$/.test(v)
              ? undefined
              : "must be a PagerDuty integration key (letters and digits)",
        }),
        stored?.routingKey,
      );
      const severity = (o.string("severity", { max: 16, rule: rule.oneOf(["critical", "error", "warning", "info"]) }) ||
        "critical") as PagerdutyOptions["severity"];
      const source = o.string("source", { max: 255 }) || "probemesh";
      if (routingKey === MASK)
        o.problem("routingKey", "is required (the masked value can only be sent back for an existing hook)");
      return routingKey && routingKey !== MASK ? { routingKey, severity, source } : undefined;
    });
  } else if (type === "alertmanager") {
    hook.alertmanager =
      r.object<AlertmanagerOptions | undefined>("alertmanager", ["labels", "receiver"], (o) => {
        const labels = o.stringMap("labels", {
          maxEntries: 32,
          keyRule: (k) => (/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) ? undefined : "must be a Prometheus label name"),
          maxValueLength: 1024,
        });
        const receiver = o.string("receiver", { max: 128 }) || "probemesh";
        return labels ? { labels, receiver } : undefined;
      }) ?? (r.has("alertmanager") ? undefined : { labels: {}, receiver: "probemesh" });
  }

  if (type === "powerdns" && hook.powerdns && hook.powerdns.apiKey === MASK) {
    problems.add("powerdns.apiKey", "is required (the masked value can only be sent back for an existing hook)");
  }
  problems.throwIfAny("hook");
  // throwIfAny returned: every field read above is valid.
  const defaultEvents: HookEventType[] =
    type && ACTION_HOOK_TYPES.includes(type) ? ["outage.opened", "outage.resolved"] : [...HOOK_EVENT_TYPES];
  const result: Hook = {
    id: id as string,
    type: type as HookType,
    url: url ?? "",
    secret: secret ?? "",
    previousSecrets: previousSecrets ?? [],
    events: events && events.length > 0 ? (events as HookEventType[]) : defaultEvents,
    checks: checks ?? [],
    cooldownMs,
    minHoldMs,
    dryRun,
    timeoutMs,
    deadlineMs,
    ...hook,
  };
  return generatedSecret ? { hook: result, generatedSecret } : { hook: result };
}

/** The API form of a stored hook: secrets replaced by placeholders, plus bookkeeping. */
export function publicHook(record: {
  hook: Hook;
  createdAt: number;
  updatedAt: number;
  disabled?: { at: number; reason: string };
}): Record<string, unknown> {
  const h = record.hook;
  const out: Record<string, unknown> = {
    id: h.id,
    type: h.type,
    ...(h.url ? { url: h.url } : {}),
    ...(h.secret
      ? { secret: SECRET_MASK, hasSecret: true, previousSecrets: h.previousSecrets.map(() => SECRET_MASK) }
      : {}),
    events: h.events,
    checks: h.checks,
    cooldownMs: h.cooldownMs,
    minHoldMs: h.minHoldMs,
    dryRun: h.dryRun,
    timeoutMs: h.timeoutMs,
    deadlineMs: h.deadlineMs,
  };
  if (h.haproxy) out.haproxy = { ...h.haproxy };
  if (h.powerdns) out.powerdns = { ...h.powerdns, apiKey: MASK };
  if (h.rfc2136) out.rfc2136 = { ...h.rfc2136, tsig: { ...h.rfc2136.tsig, secret: MASK } };
  if (h.pagerduty) out.pagerduty = { ...h.pagerduty, routingKey: MASK };
  if (h.alertmanager) out.alertmanager = { ...h.alertmanager, labels: { ...h.alertmanager.labels } };
  out.createdAt = record.createdAt;
  out.updatedAt = record.updatedAt;
  out.disabled = record.disabled ?? null;
  return out;
}
