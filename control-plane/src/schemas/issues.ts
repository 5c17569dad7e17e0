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

/** Suggests the lowerCamelCase spelling of a snake_case key when the object knows it. */
function didYouMean(key: string, known: readonly string[]): string {
  const camel = key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return camel !== key && known.includes(camel) ? ` (did you mean "${camel}"?)` : "";
}

/**
 * Every problem of a failed parse, one per field. An object's unknown keys come before the problems
 * of its fields (zod finds them last), as the API has always listed them. Unknown keys get a `did you
 * mean` hint when the schema knows their lowerCamelCase form (`known`, looked up per parent path,
 * lists the keys the object at that path accepts).
 */
export function zodProblems(error: z.ZodError, knownKeys?: (parentPath: string) => readonly string[]): Problem[] {
  return problemsOf(error, (path) => knownKeys?.(fieldPathOf(path)) ?? []);
}

function problemsOf(error: z.ZodError, knownAt: (path: readonly PropertyKey[]) => readonly string[]): Problem[] {
  const out: Problem[] = [];
  for (const issue of error.issues) {
    const parent = fieldPathOf(issue.path);
    if (issue.code === "unrecognized_keys") {
      const known = knownAt(issue.path);
      const unknown = issue.keys.map((key) => ({
        field: parent === "" ? key : `${parent}.${key}`,
        message: `unknown field${didYouMean(key, known)}`,
      }));
      const first = out.findIndex((p) => isUnder(p.field, parent));
      out.splice(first === -1 ? out.length : first, 0, ...unknown);
      continue;
    }
    out.push({ field: parent === "" ? "body" : parent, message: issue.message });
  }
  return out;
}

function isUnder(field: string, parent: string): boolean {
  return parent === "" || field === parent || field.startsWith(`${parent}.`) || field.startsWith(`${parent}[`);
}

/**
 * The keys the object at `path` inside `schema` accepts, found by walking the schema (through
 * optional, nullable, default, pipes and preprocessing, arrays, records and unions).
 */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let found: z.core.$ZodType[] = [schema];
  for (const seg of path) found = found.flatMap((s) => childrenOf(unwrap(s), seg));
  return [...new Set(found.map(unwrap).flatMap((s) => (s._zod.def.type === "object" ? Object.keys(shapeOf(s)) : [])))];
}

function shapeOf(s: z.core.$ZodType): Record<string, z.core.$ZodType> {
  return (s._zod.def as unknown as { shape: Record<string, z.core.$ZodType> }).shape;
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    const def = s._zod.def as unknown as {
      type: string;
      innerType?: z.core.$ZodType;
      in?: z.core.$ZodType;
      out?: z.core.$ZodType;
    };
    if (def.innerType) s = def.innerType;
    else if (def.type === "pipe" && def.in && def.out) s = def.in._zod.def.type === "transform" ? def.out : def.in;
    else return s;
  }
}

function childrenOf(s: z.core.$ZodType, seg: PropertyKey): z.core.$ZodType[] {
  const def = s._zod.def as unknown as {
    type: string;
    element?: z.core.$ZodType;
    valueType?: z.core.$ZodType;
    options?: z.core.$ZodType[];
  };
  if (def.type === "union" && def.options) return def.options.flatMap((o) => childrenOf(unwrap(o), seg));
  if (def.type === "object") {
    const child = shapeOf(s)[String(seg)];
    return child ? [child] : [];
  }
  if (def.type === "array" && def.element && typeof seg === "number") return [def.element];
  if (def.type === "record" && def.valueType) return [def.valueType];
  return [];
}

/**
 * Parses `input` with `schema`; on failure throws a ValidationError whose message names the first
 * field and whose `details.problems` lists every problem (`what` names the input: "check", "hook").
 * `knownKeys` feeds the `did you mean` hints. @default the keys the schema accepts at that path
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  knownKeys?: (parentPath: string) => readonly string[],
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = new Problems();
  const known = knownKeys
    ? (path: readonly PropertyKey[]) => knownKeys(fieldPathOf(path))
    : (path: readonly PropertyKey[]) => knownKeysAt(schema, path);
  for (const p of problemsOf(parsed.error, known)) problems.add(p.field, p.message);
  problems.throwIfAny(what);
  // safeParse failed without issues: cannot happen, but never return unvalidated input.
  throw new ValidationError(`invalid ${what}`);
}
