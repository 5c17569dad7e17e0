import { maskUrlQuery } from "../trust/url-query.js";
import { ValidationError } from "../errors.js";
import { parseOrThrow } from "../schemas/issues.js";
import { HTTP_HOOK_TYPES, hookInputSchema, hookTypeOf, MASK, SECRET_MASK } from "./hook-schema.js";
import type { PublicHook } from "./hook-response-schemas.js";
import { generateSecret } from "./signing.js";
import type { Hook } from "./types.js";

export {
  DEFAULT_DEADLINE_MS,
  DEFAULT_TIMEOUT_MS,
  HOOK_ID_PATTERN,
  MASK,
  PAGERDUTY_EVENTS_URL,
  SECRET_MASK,
} from "./hook-schema.js";

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

/**
 * Validates the API form of a hook and returns the stored form with defaults filled in. Throws a
 * ValidationError whose `details.field` names the first bad field and `details.problems` lists all
 * of them; messages never echo secret values.
 */
export function validateHook(json: unknown, opts: ValidateHookOptions): ValidatedHook {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ValidationError("invalid hook: must be a JSON object", {
      field: "hook",
      problems: [{ field: "hook", message: "must be a JSON object" }],
    });
  }
  // The rules of a hook depend on its type, so the schema is the one of the type the body names.
  const schema = hookInputSchema({ type: hookTypeOf(json), mode: opts.mode, pathId: opts.id, existing: opts.existing });
  const hook = parseOrThrow(schema, json, "hook");
  if (HTTP_HOOK_TYPES.includes(hook.type) && hook.secret === "") {
    const generatedSecret = generateSecret();
    return { hook: { ...hook, secret: generatedSecret }, generatedSecret };
  }
  return { hook };
}

/** The API form of a stored hook: secrets replaced by placeholders, plus bookkeeping. */
export function publicHook(record: {
  hook: Hook;
  createdAt: number;
  updatedAt: number;
  disabled?: { at: number; reason: string };
}): PublicHook {
  const h = record.hook;
  return {
    id: h.id,
    type: h.type,
    ...(h.url ? { url: h.type === "slack" ? MASK : maskUrlQuery(h.url) } : {}),
    ...(h.secret
      ? { secret: SECRET_MASK, hasSecret: true, previousSecrets: h.previousSecrets.map(() => SECRET_MASK) }
      : {}),
    events: h.events.filter((e) => e !== "test"),
    checks: h.checks,
    selector: h.selector ?? {},
    cooldownMs: h.cooldownMs,
    minHoldMs: h.minHoldMs,
    dryRun: h.dryRun,
    timeoutMs: h.timeoutMs,
    deadlineMs: h.deadlineMs,
    ...(h.haproxy ? { haproxy: { ...h.haproxy } } : {}),
    ...(h.powerdns ? { powerdns: { ...h.powerdns, apiKey: MASK } } : {}),
    ...(h.rfc2136 ? { rfc2136: { ...h.rfc2136, tsig: { ...h.rfc2136.tsig, secret: MASK } } } : {}),
    ...(h.pagerduty ? { pagerduty: { ...h.pagerduty, routingKey: MASK } } : {}),
    ...(h.alertmanager ? { alertmanager: { ...h.alertmanager, labels: { ...h.alertmanager.labels } } } : {}),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    disabled: record.disabled ?? null,
  };
}
