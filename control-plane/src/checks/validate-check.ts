import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CHECK_TYPES, CheckSchema, type Check } from "@probemesh/proto";
import { z } from "@hono/zod-openapi";
import { ValidationError } from "../errors.js";
import { zodProblems } from "../schemas/issues.js";
import {
  CheckBody,
  CheckReplaceBody,
  checkTypeOf,
  DEFAULT_INTERVAL_MS,
  effectiveTimeout,
  type CheckBodyOutput,
} from "./check-schema.js";
import { Problems } from "./problems.js";
import * as rule from "./rules.js";

export { CHECK_TYPES, HTTP_METHODS, type CheckType } from "@probemesh/proto";
export {
  DEFAULT_INTERVAL_MS,
  DEFAULT_QUORUM,
  DEFAULT_THRESHOLD,
  DEFAULT_TIMEOUT_MS,
  MAX_INTERVAL_MS,
  MAX_TIMEOUT_MS,
  MIN_INTERVAL_MS,
  MIN_TIMEOUT_MS,
} from "./check-schema.js";

/** Options of {@link validateCheck}. */
export interface ValidateCheckOptions {
  /** "create" needs an id in the body; "replace" takes it from `id` (a body id must then match). */
  mode: "create" | "replace";
  /** The id from the URL path, for "replace". */
  id?: string | undefined;
  /** The stored check, for "replace": its type cannot change. */
  existing?: Check | undefined;
}

/**
 * Why a stored check of type `from` cannot become `to`, or undefined when it can (same type). Its
 * history (results, consensus state, outages) describes one kind of probe; mixing two would make
 * an availability figure nobody can read, so a new type is a new check, as with hooks.
 */
export function typeChangeProblem(from: string, to: string): string | undefined {
  return from === to ? undefined : `cannot change from ${from}: delete and create the check instead`;
}

/** Throws the ValidationError naming `type` when `next` would change the type of `previous`. */
export function assertSameType(previous: Check, next: Check): void {
  const problems = new Problems();
  const problem = typeChangeProblem(previous.type, next.type);
  if (problem) problems.add("type", problem);
  problems.throwIfAny("check");
}

/**
 * Validates the API form of a check (the proto3 JSON of `probemesh.v1.Check`, lowerCamelCase names)
 * with {@link CheckBody} and returns the normalised proto message with defaults filled in. Throws a
 * ValidationError whose `details.field` names the first bad field and `details.problems` lists all.
 */
export function validateCheck(json: unknown, opts: ValidateCheckOptions): Check {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ValidationError("invalid check: must be a JSON object", {
      field: "check",
      problems: [{ field: "check", message: "must be a JSON object" }],
    });
  }
  const schema = opts.mode === "replace" ? CheckReplaceBody : CheckBody;
  const parsed = schema.safeParse(json);
  const problems = new Problems();
  if (opts.mode === "replace") {
    // The path id is part of the input: its problem comes first, with the body's.
    const pathId = opts.id ?? "";
    if (!rule.CHECK_ID_PATTERN.test(pathId)) problems.add("id", rule.checkId(pathId) ?? "is invalid");
    const bodyId = (json as Record<string, unknown>).id;
    if (typeof bodyId === "string" && bodyId !== "" && rule.checkId(bodyId) === undefined && bodyId !== pathId)
      problems.add("id", `must match the id in the path (${JSON.stringify(pathId)})`);
  }
  if (!parsed.success) {
    // Without a valid type no options object is read, so none of them has problems.
    const typed =
      typeof (json as Record<string, unknown>).type === "string" && checkTypeOf((json as { type: string }).type);
    const issues = parsed.error.issues.filter((i) => typed || !CHECK_TYPES.some((t) => t === i.path[0]));
    const error = new z.ZodError(issues);
    for (const p of zodProblems(error, schema)) problems.add(p.field, p.message);
  }
  const type = (json as Record<string, unknown>).type;
  if (opts.mode === "replace" && opts.existing && typeof type === "string" && checkTypeOf(type)) {
    // Listed with the body's other problems; a type the schema refuses has its own problem already.
    const problem = typeChangeProblem(opts.existing.type, type);
    if (problem) problems.add("type", problem);
  }
  problems.throwIfAny("check");
  if (!parsed.success) throw new ValidationError("invalid check");
  return toCheck(parsed.data, opts.mode === "replace" ? (opts.id ?? "") : parsed.data.id);
}

/** The proto message of a parsed check body, with the defaults that depend on other fields. */
function toCheck(body: CheckBodyOutput, id: string): Check {
  const type = checkTypeOf(body.type);
  const intervalMs = body.intervalMs ?? DEFAULT_INTERVAL_MS;
  const timeoutMs = effectiveTimeout(intervalMs, body.timeoutMs);
  const init: MessageInitShape<typeof CheckSchema> = {
    id,
    type: body.type,
    intervalMs,
    timeoutMs,
    regions: body.regions,
    retries: body.retries,
    canary: body.canary,
    public: body.public,
    failureThreshold: body.failureThreshold,
    recoveryThreshold: body.recoveryThreshold,
    quorum: body.quorum,
    degradedAfterMs: body.degradedAfterMs ?? 0,
  };
  if (type === "http" && body.http) init.http = { ...body.http, maxResponseTimeMs: body.http.maxResponseTimeMs ?? 0 };
  else if (type === "tcp" && body.tcp) init.tcp = body.tcp;
  else if (type === "dns" && body.dns) init.dns = body.dns;
  else if (type === "tls" && body.tls) init.tls = body.tls;
  else if (type === "grpc" && body.grpc) init.grpc = body.grpc;
  else if (type === "icmp" && body.icmp) init.icmp = body.icmp;
  return create(CheckSchema, init);
}
