import type { z } from "zod";
import { ValidationError } from "../errors.js";
import { Problems, type Problem } from "../checks/problems.js";

/**
 * Turns a zod path into the API's field path: keys joined by ".", array indices as "[i]"
 * ("http.headerMatch[0].name"), so a 400 reads the same as before the schemas.
 */
export function fieldPathOf(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** Where the keys an object accepts come from: the schema itself, or a lookup by parent field path. */
export type KnownKeys = z.ZodType | ((parentPath: string) => readonly string[]);

/** Options of {@link zodProblems} and {@link parseOrThrow}. */
export interface ProblemOptions {
  /**
   * The message for an unknown key, given the keys its object accepts.
   * @default `unknown field`, plus `(did you mean "camelCase"?)` when the snake_case key has a known camelCase form
   */
  unknownKey?: (key: string, known: readonly string[]) => string;
}

/** Suggests the lowerCamelCase spelling of a snake_case key when the object knows it. */
function didYouMean(key: string, known: readonly string[]): string {
  const camel = key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return camel !== key && known.includes(camel) ? ` (did you mean "${camel}"?)` : "";
}

const unknownField = (key: string, known: readonly string[]): string => `unknown field${didYouMean(key, known)}`;

// A minimal view of zod's internal definitions: enough to walk from a schema to the one at a path.
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schemas a value at `schema` may be checked by, past wrappers (optional, default, pipe, union...). */
function containers(schema: z.ZodType, depth = 0): z.ZodType[] {
  if (depth > 32) return [];
  const def = defOf(schema);
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      return def.innerType ? containers(def.innerType, depth + 1) : [];
    case "pipe":
      // A preprocess step is a transform on the way in; the real shape is what it feeds.
      if (!def.in || !def.out) return [];
      return containers(defOf(def.in).type === "transform" ? def.out : def.in, depth + 1);
    case "lazy":
      return def.getter ? containers(def.getter(), depth + 1) : [];
    case "union":
      return (def.options ?? []).flatMap((o) => containers(o, depth + 1));
    case "intersection":
      return [def.left, def.right].flatMap((o) => (o ? containers(o, depth + 1) : []));
    default:
      return [schema];
  }
}

/** The schemas for the value at `seg` inside a value checked by `schema`. */
function step(schema: z.ZodType, seg: PropertyKey): z.ZodType[] {
  const out: z.ZodType[] = [];
  for (const c of containers(schema)) {
    const def = defOf(c);
    if (def.type === "object" && typeof seg === "string" && def.shape && seg in def.shape) out.push(def.shape[seg]!);
    else if (def.type === "array" && typeof seg === "number" && def.element) out.push(def.element);
    else if (def.type === "record" && def.valueType) out.push(def.valueType);
  }
  return out;
}

/** The keys the object at `path` of `schema` accepts, in declaration order ([] when it is not an object). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let at: z.ZodType[] = [schema];
  for (const seg of path) at = at.flatMap((s) => step(s, seg));
  const keys: string[] = [];
  for (const s of at.flatMap((x) => containers(x))) {
    const def = defOf(s);
    if (def.type === "object" && def.shape) for (const k of Object.keys(def.shape)) if (!keys.includes(k)) keys.push(k);
  }
  return keys;
}

interface Entry {
  path: PropertyKey[];
  message: string;
  unknown: boolean;
}

/** Orders entries as the schema declares fields (unknown keys first in their object), stably. */
function schemaOrder(schema: z.ZodType, a: Entry, b: Entry): number {
  const n = Math.min(a.path.length, b.path.length);
  for (let i = 0; i < n; i++) {
    const x = a.path[i]!;
    const y = b.path[i]!;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    const known = knownKeysAt(schema, a.path.slice(0, i));
    const rank = (seg: PropertyKey, e: Entry): number =>
      e.unknown && i === e.path.length - 1 ? -1 : known.indexOf(String(seg));
    return rank(x, a) - rank(y, b);
  }
  return 0;
}

const isPrefix = (p: readonly PropertyKey[], q: readonly PropertyKey[]): boolean =>
  p.length < q.length && p.every((seg, i) => seg === q[i]);

/**
 * Every problem of a failed parse, one per field. Unknown keys get a `did you mean` hint when their
 * object knows their lowerCamelCase form (`known`: the schema, walked along the path, or a lookup of
 * the keys accepted at a parent path). A problem on a field hides problems inside it (an options
 * object that must be absent is not also checked), and only the first problem of a field is kept.
 * Given the schema, problems come in the order it declares its fields.
 */
export function zodProblems(error: z.ZodError, known?: KnownKeys, opts: ProblemOptions = {}): Problem[] {
  const keysAt = (path: readonly PropertyKey[]): readonly string[] =>
    known === undefined ? [] : typeof known === "function" ? known(fieldPathOf(path)) : knownKeysAt(known, path);
  const unknownKey = opts.unknownKey ?? unknownField;
  let entries: Entry[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      const accepted = keysAt(issue.path);
      for (const key of issue.keys)
        entries.push({ path: [...issue.path, key], message: unknownKey(key, accepted), unknown: true });
    } else entries.push({ path: [...issue.path], message: issue.message, unknown: false });
  }
  entries = entries.filter(
    (e, i) =>
      !entries.some((o) => o.path.length > 0 && isPrefix(o.path, e.path)) &&
      entries.findIndex((o) => fieldPathOf(o.path) === fieldPathOf(e.path)) === i,
  );
  if (known !== undefined && typeof known !== "function") entries.sort((a, b) => schemaOrder(known, a, b));
  return entries.map((e) => ({ field: e.path.length === 0 ? "body" : fieldPathOf(e.path), message: e.message }));
}

/**
 * The ValidationError of a failed parse (of `schema`, when known: it orders the problems and hints
 * unknown keys): its message names the first field and
 * `details.problems` lists every problem (`what` names the input: "check", "query").
 */
export function validationErrorOf(
  error: z.ZodError,
  schema: KnownKeys | undefined,
  what: string,
  opts: ProblemOptions = {},
): ValidationError {
  const problems = new Problems();
  for (const p of zodProblems(error, schema, opts)) problems.add(p.field, p.message);
  // A failed parse without issues cannot happen; still never let unvalidated input through.
  return problems.error(what) ?? new ValidationError(`invalid ${what}`);
}

/**
 * Parses `input` with `schema`; on failure throws a ValidationError whose message names the first
 * field and whose `details.problems` lists every problem (`what` names the input: "check", "hook").
 * Unknown keys are hinted from the schema itself unless `knownKeys` looks them up.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  knownKeys?: (parentPath: string) => readonly string[],
  opts: ProblemOptions = {},
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw validationErrorOf(parsed.error, knownKeys ?? schema, what, opts);
}
