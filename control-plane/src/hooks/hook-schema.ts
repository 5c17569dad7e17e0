import { isIP } from "node:net";
import { z } from "@hono/zod-openapi";
import type { DnsRecordType } from "@probemesh/proto";
import * as rule from "../checks/rules.js";
import {
  absent,
  bool,
  int,
  list,
  oneOf,
  requiredText,
  stringMap,
  text,
  typeError,
  type Rule,
} from "../schemas/json-fields.js";
import { secretProblem } from "./signing.js";
import { restoreMaskedQuery } from "../trust/url-query.js";
import { DEFAULT_EVENTS, handles } from "./subscription.js";
import { HOOK_EVENT_TYPES, HOOK_TYPES, type Hook, type HookEventType, type HookType } from "./types.js";

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

/** Hook types whose deliveries are signed HTTP requests. */
export const HTTP_HOOK_TYPES: readonly HookType[] = ["webhook", "pagerduty", "alertmanager"];
/** Fields of the API form that only responses carry; a PUT of a GET body may send them back, ignored. */
export const READ_ONLY_FIELDS = ["createdAt", "updatedAt", "disabled", "hasSecret"] as const;
const OPTION_TYPES = ["haproxy", "powerdns", "rfc2136", "pagerduty", "alertmanager"] as const;
type OptionType = (typeof OPTION_TYPES)[number];
/** Check options: run even when the fields failed (zod skips checks after a failed field by default). */
/** The stored form leaves out an empty `standbyCheckId`. */
function withoutEmptyStandbyCheck<T extends { standbyCheckId: string }>(
  v: T,
): Omit<T, "standbyCheckId"> & { standbyCheckId?: string } {
  const { standbyCheckId, ...rest } = v;
  return standbyCheckId ? { ...rest, standbyCheckId } : rest;
}

const ALWAYS = { when: () => true } as const;
const MASKED_NEEDS_STORED = "is required (the masked value can only be sent back for an existing hook)";

/** Record types a DNS swap can serve: address records from the shared vocabulary. */
export const SWAP_RECORD_TYPES = ["A", "AAAA"] as const satisfies readonly DnsRecordType[];

const hookIdRule: Rule = (v) =>
  HOOK_ID_PATTERN.test(v) ? undefined : "must match [a-z0-9][a-z0-9_-]{0,62} (lower case, at most 63 characters)";

/** Problem of a hook id, or undefined when it is one. */
export function hookIdProblem(id: string): string | undefined {
  return hookIdRule(id);
}

const httpUrl: Rule = (v) => {
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") return "must be an http or https URL";
    if (u.username || u.password) return "must not carry credentials";
    return undefined;
  } catch {
    return "must be an absolute http or https URL";
  }
};

const fqdn: Rule = (v) =>
  v.endsWith(".") && rule.isHostname(v)
    ? undefined
    : 'must be a fully qualified DNS name ending with "." (e.g. "example.test.")';

const socketAddress: Rule = (v) => {
  if (v.startsWith("/")) return v.length > 107 ? "unix socket path must be at most 107 characters" : undefined;
  return rule.hostPort(v) === undefined ? undefined : "must be an absolute unix socket path or host:port";
};

const base64Key: Rule = (v) =>
  /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0 && Buffer.from(v, "base64").length >= 16
    ? undefined
    : "must be a base64 key of at least 16 bytes";

const haproxyName: Rule = (v) =>
  /^[A-Za-z0-9_.:-]{1,64}$/.test(v) ? undefined : "must be an HAProxy proxy/server name";

/**
 * A secret that the API shows masked: the mask sent back means "keep the stored value", which only
 * an existing hook has; the message never echoes the value.
 */
function keptSecret(max: number, stored: string | undefined, valid: Rule = () => undefined) {
  return requiredText({
    max,
    rule: (v) => (v === MASK ? (stored === undefined ? MASKED_NEEDS_STORED : undefined) : valid(v)),
  }).transform((v) => (v === MASK && stored !== undefined ? stored : v));
}

/** An options object: "is required" (or `required`) when absent, unknown keys refused. */
function options<S extends z.core.$ZodLooseShape>(
  shape: S,
  required = "is required",
  check?: (value: Record<string, unknown>, ctx: z.RefinementCtx) => void,
) {
  const object = z.strictObject(shape, { error: typeError("an object", required) });
  return z.preprocess(
    (v) => (v === null ? undefined : v),
    // A cross-field check runs even when a field failed, so that every problem is listed at once.
    check
      ? object.superRefine((v: unknown, ctx) => {
          if (typeof v === "object" && v !== null && !Array.isArray(v)) check(v as Record<string, unknown>, ctx);
        }, ALWAYS)
      : object,
  );
}

/** Options of a DNS record swap, shared by powerdns and rfc2136 hooks. */
function dnsSwapShape(verifyServerRequired: boolean) {
  return {
    zone: requiredText({ max: 253, rule: fqdn }).openapi({ example: "example.test." }),
    name: requiredText({ max: 253, rule: fqdn }).openapi({ example: "www.example.test." }),
    recordType: oneOf(SWAP_RECORD_TYPES, 4, "A"),
    ttl: int(0, 86_400, 60),
    primary: list({ maxItems: 32, maxLength: 45 }).openapi({ example: ["10.0.0.1"] }),
    standby: list({ maxItems: 32, maxLength: 45 }).openapi({ example: ["10.0.0.2"] }),
    standbyCheckId: text({ max: 63, rule: rule.checkId }),
    verifyServer: verifyServerRequired
      ? requiredText({ max: 300, rule: rule.hostPort }).openapi({ example: "127.0.0.1:5300" })
      : text({ max: 300, rule: rule.hostPort }),
  };
}

/** Cross-field rules of a DNS swap: addresses of the record type, listed once, and a name in the zone. */
function checkDnsSwap(v: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const recordType = v.recordType === "AAAA" ? "AAAA" : v.recordType === "A" ? "A" : undefined;
  for (const key of ["primary", "standby"] as const) {
    const items = v[key];
    if (!Array.isArray(items)) continue;
    if (items.length === 0) ctx.addIssue({ code: "custom", message: "must list at least one address", path: [key] });
    if (recordType === undefined) continue;
    const family = recordType === "A" ? 4 : 6;
    const seen: unknown[] = [];
    items.forEach((item: unknown, i) => {
      if (typeof item !== "string" || item.length > 45) return;
      let message: string | undefined;
      if (isIP(item) !== family) message = `must be an IPv${family} address for ${recordType} records`;
      else if (seen.includes(item)) message = `repeats ${JSON.stringify(item)}`;
      else seen.push(item);
      if (message) ctx.addIssue({ code: "custom", message, path: [key, i] });
    });
  }
  const { zone, name } = v;
  if (typeof zone === "string" && typeof name === "string" && fqdn(zone) === undefined && fqdn(name) === undefined) {
    if (name !== zone && !name.toLowerCase().endsWith(`.${zone.toLowerCase()}`))
      ctx.addIssue({ code: "custom", message: `must be inside the zone ${zone}`, path: ["name"] });
  }
}

/** The schema of one hook type's options object, given what is stored (masked secrets keep it). */
function optionsSchema(type: OptionType, stored: Hook | undefined) {
  const required = `is required for a ${type} hook`;
  switch (type) {
    case "haproxy":
      return options(
        {
          socket: requiredText({ max: 300, rule: socketAddress }).openapi({ example: "/run/haproxy/admin.sock" }),
          backend: requiredText({ max: 64, rule: haproxyName }).openapi({ example: "be_web" }),
          server: requiredText({ max: 64, rule: haproxyName }).openapi({ example: "web1" }),
        },
        required,
      ).openapi("HaproxyOptionsInput", { description: "Which server to put in maintenance on an outage." });
    case "powerdns":
      return options(
        {
          ...dnsSwapShape(true),
          apiKey: keptSecret(256, stored?.powerdns?.apiKey, rule.headerValue).openapi({
            description: 'X-API-Key of the PowerDNS API; shown as "***", which a PUT may send back.',
          }),
          serverId: text({
            max: 64,
            fallback: "localhost",
            rule: (v) => (/^[A-Za-z0-9_.-]+$/.test(v) ? undefined : "must be a PowerDNS server id"),
          }),
        },
        required,
        checkDnsSwap,
      )
        .transform(withoutEmptyStandbyCheck)
        .openapi("PowerdnsOptionsInput", {
          description: "A DNS record swap through the PowerDNS HTTP API at the hook's url.",
        });
    case "rfc2136":
      return options(
        {
          ...dnsSwapShape(false),
          server: requiredText({ max: 300, rule: rule.hostPort }).openapi({ example: "127.0.0.1:5353" }),
          tsig: options({
            name: requiredText({ max: 253, rule: rule.host }).openapi({ example: "k1" }),
            algorithm: oneOf(["hmac-sha256"], 32, "hmac-sha256"),
            secret: keptSecret(256, stored?.rfc2136?.tsig.secret, base64Key).openapi({
              description: 'Base64 TSIG key; shown as "***", which a PUT may send back.',
            }),
          }).openapi("TsigKeyInput"),
        },
        required,
        checkDnsSwap,
      )
        .transform((v) => withoutEmptyStandbyCheck({ ...v, verifyServer: v.verifyServer || v.server }))
        .openapi("Rfc2136OptionsInput", {
          description: "A DNS record swap by DNS UPDATE signed with TSIG; verifyServer defaults to server.",
        });
    case "pagerduty":
      return options(
        {
          routingKey: keptSecret(64, stored?.pagerduty?.routingKey, (v) =>
            /^[A-Za-z0-9]{1,64}$/.test(v) ? undefined : "must be a PagerDuty integration key (letters and digits)",
          ).openapi({ description: 'Integration key; shown as "***", which a PUT may send back.' }),
          severity: oneOf(["critical", "error", "warning", "info"], 16, "critical"),
          source: text({ max: 255, fallback: "probemesh" }),
        },
        required,
      ).openapi("PagerdutyOptionsInput", { description: "Events API v2 triggers and resolves." });
    case "alertmanager":
      return z
        .preprocess(
          (v) => (v === null ? undefined : v),
          z
            .strictObject(
              {
                labels: stringMap({
                  maxEntries: 32,
                  keyRule: (k) => (/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) ? undefined : "must be a Prometheus label name"),
                  maxValueLength: 1024,
                }).openapi({ example: { team: "sre" } }),
                receiver: text({ max: 128, fallback: "probemesh" }),
              },
              { error: typeError("an object") },
            )
            .optional()
            .default({ labels: {}, receiver: "probemesh" }),
        )
        .openapi("AlertmanagerOptionsInput", { description: "Alertmanager webhook payload (version 4)." });
  }
}

/** What {@link hookInputSchema} validates against. */
export interface HookSchemaContext {
  /** The hook's type, when the input names a valid one: the schema then checks that type's rules. */
  type?: HookType;
  /** "create" needs an id in the body; "replace" takes it from `pathId` (a body id must then match). */
  mode: "create" | "replace";
  /** The id from the URL path, for "replace". */
  pathId?: string;
  /** The stored hook, for "replace": masked secrets keep its values and its type cannot change. */
  existing?: Hook;
}

function secretFields(type: HookType | undefined, existing: Hook | undefined) {
  const secret = text({ max: 200 }).openapi({
    description: 'Standard Webhooks secret ("whsec_" + base64); generated when absent, shown as "whsec_***".',
  });
  const previousSecrets = list({ maxItems: 4, maxLength: 200 }).openapi({
    description: "Older secrets still signed with during a rotation.",
  });
  if (type === undefined) return { secret, previousSecrets };
  if (!HTTP_HOOK_TYPES.includes(type)) {
    const notSigned = `must be absent: ${type} hooks are not signed`;
    return {
      secret: text({ max: 200, rule: () => notSigned }).transform(() => ""),
      previousSecrets: list({ maxItems: 4, maxLength: 200 })
        .superRefine((v, ctx) => {
          if (v.length > 0) ctx.addIssue({ code: "custom", message: notSigned });
        })
        .transform((): string[] => []),
    };
  }
  return {
    secret: text({ max: 200, rule: (v) => (v === SECRET_MASK ? undefined : secretProblem(v)) })
      .transform((v) => (v === SECRET_MASK || (v === "" && existing?.secret) ? (existing?.secret ?? "") : v))
      .openapi({ description: secret.description }),
    previousSecrets: list({ maxItems: 4, maxLength: 200 })
      .superRefine((v, ctx) => {
        if (v.length > 0 && v.every((s) => s === SECRET_MASK) && existing) return;
        v.forEach((s, i) => {
          const message = secretProblem(s);
          if (message) ctx.addIssue({ code: "custom", message, path: [i] });
        });
      })
      .transform((v) => (v.length > 0 && v.every((s) => s === SECRET_MASK) && existing ? existing.previousSecrets : v))
      .openapi({ description: previousSecrets.description }),
  };
}

function urlField(type: HookType | undefined, existing: Hook | undefined) {
  switch (type) {
    case "slack":
      // The incoming-webhook URL is the credential: masked whole ("***"), which keeps the stored one.
      return keptSecret(2048, existing?.type === "slack" ? existing.url : undefined, httpUrl).openapi({
        example: "https://hooks.slack.com/services/T000/B000/XXXX",
        description: 'Incoming-webhook URL (a secret: shown as "***"; sent back masked, it keeps the stored one).',
      });
    case "webhook":
    case "alertmanager":
    case "powerdns":
      return requiredText({ max: 2048, rule: httpUrl }).openapi({ example: "https://ops.example.test/hooks" });
    case "pagerduty":
      return text({ max: 2048, rule: httpUrl, fallback: PAGERDUTY_EVENTS_URL });
    case "haproxy":
    case "rfc2136":
      return text({ max: 2048, rule: (v) => httpUrl(v) ?? `must be absent for a ${type} hook` });
    default:
      return text({ max: 2048, rule: httpUrl });
  }
}

/**
 * The API form of a hook, for one context: every field's rules, the rules of `ctx.type`, masked
 * secrets resolved against `ctx.existing`. Parses to the stored form with defaults filled in
 * (`secret` is "" when an HTTP hook still needs one generated).
 */
export function hookInputSchema(ctx: HookSchemaContext) {
  const { type, existing } = ctx;
  const id =
    ctx.mode === "create"
      ? requiredText({ max: 63, rule: hookIdRule })
      : text({
          max: 63,
          rule: (v) =>
            hookIdRule(v) ??
            (v !== ctx.pathId ? `must match the id in the path (${JSON.stringify(ctx.pathId)})` : undefined),
        });
  const typeField =
    type === undefined
      ? oneOf(HOOK_TYPES, 16)
      : z.literal(type).superRefine((t, c) => {
          if (existing && existing.type !== t)
            c.addIssue({
              code: "custom",
              message: `cannot change from ${existing.type}: delete and create the hook instead`,
            });
        });
  // Another type's options are refused right after the type; the type's own are read last.
  const foreignOptions = Object.fromEntries(
    OPTION_TYPES.filter((o) => o !== type).map((o) => [
      o,
      absent(`must be absent for a ${type ?? "hook of another type"} hook`),
    ]),
  );
  const ownOptions =
    type !== undefined && (OPTION_TYPES as readonly string[]).includes(type)
      ? { [type]: optionsSchema(type as OptionType, existing) }
      : {};
  const readOnly = Object.fromEntries(
    READ_ONLY_FIELDS.map((k) => [k, z.unknown().optional().openapi({ readOnly: true, description: "ignored" })]),
  );
  const defaultEvents: HookEventType[] = type ? [...DEFAULT_EVENTS[type]] : [...HOOK_EVENT_TYPES];
  const knownEvent = rule.oneOf(HOOK_EVENT_TYPES);
  // Refused rather than silently never delivered: the caller learns the hook type ignores it.
  const eventRule: Rule = (e) =>
    knownEvent(e) ??
    (type && !handles(type, e as HookEventType)
      ? type === "pagerduty" || type === "alertmanager" || type === "slack"
        ? `${type} hooks ignore ${e}: the incident.abandoned sent with it already closes the incident`
        : `${type} hooks ignore ${e}: failover actions keep their state on it`
      : undefined);
  const schema = z
    .strictObject({
      id: id.openapi({ example: "dns-failover", description: "Lower case, at most 63 characters; also in the URL." }),
      type: typeField,
      ...foreignOptions,
      url: urlField(type, existing),
      ...secretFields(type, existing),
      events: list({
        maxItems: HOOK_EVENT_TYPES.length,
        maxLength: 32,
        rule: eventRule,
        unique: true,
      }).openapi({
        description:
          "Event types to deliver; empty = outage.opened/resolved for actions, plus incident.abandoned, check.error and check.error.resolved for pagerduty/alertmanager, every event for webhooks.",
        example: ["outage.opened", "outage.resolved"],
      }),
      checks: list({ maxItems: 256, maxLength: 63, rule: rule.checkId, unique: true }).openapi({
        description: "Check ids the hook is for; empty = every check (or the checks `selector` picks).",
        example: ["web"],
      }),
      selector: stringMap({ maxEntries: 32, maxValueLength: 63, keyRule: rule.labelKey }).openapi({
        description:
          "Check labels the hook is for (`{key: value}`, all must match); an alternative to `checks` (not both). Empty = every check.",
        example: { team: "web" },
      }),
      cooldownMs: int(0, 86_400_000, 0),
      minHoldMs: int(0, 86_400_000, 0),
      dryRun: bool(),
      timeoutMs: int(100, 120_000, DEFAULT_TIMEOUT_MS),
      deadlineMs: int(1_000, 7 * 86_400_000, DEFAULT_DEADLINE_MS),
      ...ownOptions,
      ...readOnly,
    })
    .superRefine((v, c) => {
      // A bad path id is the caller's own problem; the routes refuse it before reading the body.
      const problem = ctx.mode === "replace" ? hookIdRule(ctx.pathId ?? "") : undefined;
      if (problem) c.addIssue({ code: "custom", message: problem, path: ["id"] });
      const given = (typeof v === "object" && v !== null ? v : {}) as { checks?: unknown; selector?: unknown };
      const selector = given.selector;
      const hasSelector = typeof selector === "object" && selector !== null && Object.keys(selector).length > 0;
      if (Array.isArray(given.checks) && given.checks.length > 0 && hasSelector)
        c.addIssue({
          code: "custom",
          message:
            "must not be given with `checks`: a hook selects checks by id (`checks`) or by label (`selector`), not both",
          path: ["selector"],
        });
    }, ALWAYS);
  return schema.transform((v): Hook => {
    const hook: Hook = {
      id: ctx.mode === "replace" ? (ctx.pathId ?? "") : String(v.id),
      type: v.type as HookType,
      // Query values come back masked from a GET (`?token=***`): those keep the stored ones.
      url: existing ? restoreMaskedQuery(v.url, existing.url) : v.url,
      secret: v.secret,
      previousSecrets: v.previousSecrets,
      events: v.events.length > 0 ? (v.events as HookEventType[]) : defaultEvents,
      checks: v.checks,
      selector: v.selector,
      cooldownMs: v.cooldownMs,
      minHoldMs: v.minHoldMs,
      dryRun: v.dryRun,
      timeoutMs: v.timeoutMs,
      deadlineMs: v.deadlineMs,
    };
    if (type !== undefined && type in ownOptions) Object.assign(hook, { [type]: (v as Record<string, unknown>)[type] });
    return hook;
  });
}

/** The type a hook input names, when it names a valid one. */
export function hookTypeOf(input: unknown): HookType | undefined {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return undefined;
  const t = (input as Record<string, unknown>).type;
  return (HOOK_TYPES as readonly unknown[]).includes(t) ? (t as HookType) : undefined;
}

function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The request body of POST /hooks and PUT /hooks/{id}, one variant per type (documentation). */
export const HookInputSchema = z
  .union(HOOK_TYPES.map((type) => hookInputSchema({ type, mode: "create" }).openapi(`${pascal(type)}HookInput`)))
  .openapi("HookInput", {
    description:
      "A hook as sent to the API. A GET body may be sent back in a PUT: masked secrets keep their stored values.",
    example: { id: "dns-failover", type: "webhook", url: "https://ops.example.test/hooks", checks: ["web"] },
  });
