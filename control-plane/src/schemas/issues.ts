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
 * Every problem of a failed parse, one per field, in the order zod found them. Unknown keys get a
 * `did you mean` hint when the schema knows their lowerCamelCase form (`known`, looked up per
 * parent path, lists the keys the object at that path accepts).
 */
export function zodProblems(error: z.ZodError, knownKeys?: (parentPath: string) => readonly string[]): Problem[] {
  const out: Problem[] = [];
  for (const issue of error.issues) {
    const parent = fieldPathOf(issue.path);
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys?.(parent) ?? [];
      for (const key of issue.keys) {
        out.push({
          field: parent === "" ? key : `${parent}.${key}`,
          message: `unknown field${didYouMean(key, known)}`,
        });
      }
      continue;
    }
    out.push({ field: parent === "" ? "body" : parent, message: issue.message });
  }
  return out;
}

/**
 * Parses `input` with `schema`; on failure throws a ValidationError whose message names the first
 * field and whose `details.problems` lists every problem (`what` names the input: "check", "hook").
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
  for (const p of zodProblems(parsed.error, knownKeys)) problems.add(p.field, p.message);
  problems.throwIfAny(what);
  // safeParse failed without issues: cannot happen, but never return unvalidated input.
  throw new ValidationError(`invalid ${what}`);
}
