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
  /** The stored check, for "replace": its type and uid cannot change. */
  existing?: Check | undefined;
  /**
   * The `dependsOn` of every stored check by id: `dependsOn` must name existing checks and make no
   * cycle. Without it, only self-dependency is refused.
   */
  dependencies?: ReadonlyMap<string, readonly string[]> | undefined;
}

/**
 * Why `dependsOn` of check `id` is refused given the stored checks' dependencies, or undefined:
 * every id must exist, and following dependencies from them must never come back to `id`.
 */
export function dependencyProblem(
  id: string,
  dependsOn: readonly string[],
  dependencies: ReadonlyMap<string, readonly string[]>,
): string | undefined {
  const missing = dependsOn.filter((d) => d !== id && !dependencies.has(d));
  if (missing.length > 0) return `names checks that do not exist: ${missing.map((m) => JSON.stringify(m)).join(", ")}`;
  // Depth-first from each dependency; the path found is the cycle shown to the user.
  const seen = new Set<string>();
  const walk = (at: string, path: string[]): string[] | undefined => {
    if (at === id) return path;
    if (seen.has(at)) return undefined;
    seen.add(at);
    for (const next of dependencies.get(at) ?? []) {
      const found = walk(next, [...path, next]);
      if (found) return found;
    }
    return undefined;
  };
  for (const d of dependsOn) {
    if (d === id) continue;
    const cycle = walk(d, [id, d]);
    if (cycle) return `would make a cycle: ${cycle.join(" -> ")}`;
  }
  return undefined;
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
 * Throws the ValidationError naming `type` or `uid` when `next` would change the type or the
 * identity of `previous` (an empty `next.uid` keeps the stored one).
 */
export function assertSameIdentity(previous: Check, next: Check): void {
  const problems = new Problems();
  const problem = typeChangeProblem(previous.type, next.type);
  if (problem) problems.add("type", problem);
  if (next.uid !== "" && next.uid !== previous.uid)
    problems.add("uid", `cannot change (${JSON.stringify(previous.uid)}): delete and create the check instead`);
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
  if (opts.mode === "replace" && opts.existing) {
    const uid = (json as Record<string, unknown>).uid;
    if (uid !== undefined && uid !== null && uid !== "" && uid !== opts.existing.uid)
      problems.add("uid", `cannot change (${JSON.stringify(opts.existing.uid)}): delete and create the check instead`);
  }
  if (parsed.success && opts.dependencies && parsed.data.dependsOn.length > 0) {
    const id = opts.mode === "replace" ? (opts.id ?? "") : parsed.data.id;
    const problem = dependencyProblem(id, parsed.data.dependsOn, opts.dependencies);
    if (problem) problems.add("dependsOn", problem);
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
    name: body.name,
    description: body.description,
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
    dependsOn: body.dependsOn,
    labels: body.labels,
  };
  if (type === "http" && body.http) init.http = { ...body.http, maxResponseTimeMs: body.http.maxResponseTimeMs ?? 0 };
  else if (type === "tcp" && body.tcp) init.tcp = body.tcp;
  else if (type === "dns" && body.dns) init.dns = body.dns;
  else if (type === "tls" && body.tls) init.tls = body.tls;
  else if (type === "grpc" && body.grpc) init.grpc = body.grpc;
  else if (type === "icmp" && body.icmp) init.icmp = body.icmp;
  return create(CheckSchema, init);
}
