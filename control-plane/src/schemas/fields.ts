import { z } from "@hono/zod-openapi";

// Field builders for JSON bodies in the API's wording: every failed field has exactly the message
// users saw before the schemas ("is required", "must be a string, got a number", "must be between
// 1 and 100, got 0"). proto3 JSON rules apply: `null` counts as absent, and so does "" for strings.

/** Checks a string value; returns a problem message, or undefined when it is fine. */
export type Rule = (value: string) => string | undefined;

/** How a JSON value is named in a message ("a string", "an array", "null"); never the value itself. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * Refinement option: run even when a field inside failed (so one response lists every problem),
 * but only on an object or array (never on the `null` a documentation generator probes with).
 */
export const evenWithFieldProblems = {
  when: (payload: { value: unknown }): boolean => typeof payload.value === "object" && payload.value !== null,
};

const absent = (input: unknown): boolean => input === undefined || input === null;

/** Options of {@link text}. */
export interface TextOptions {
  /** Longest accepted value in characters. @default 1024 */
  max?: number;
  /** Further rule run on non-empty values. */
  rule?: Rule;
  /** Value when absent, null or "". @default "" */
  default?: string;
}

function textCore(opts: TextOptions, required: boolean) {
  const max = opts.max ?? 1024;
  return z
    .string({
      error: (iss) => (absent(iss.input) ? "is required" : `must be a string, got ${describeValue(iss.input)}`),
    })
    .max(max, `must be at most ${max} characters`)
    .superRefine((v, ctx) => {
      if (v === "") {
        if (required) ctx.addIssue({ code: "custom", message: "is required" });
        return;
      }
      const message = opts.rule?.(v);
      if (message !== undefined) ctx.addIssue({ code: "custom", message });
    });
}

/** A required string: absent, null and "" are "is required". */
export function requiredText(opts: Omit<TextOptions, "default"> = {}) {
  return z.preprocess((v) => (v === null ? undefined : v), textCore(opts, true));
}

/** An optional string; absent, null and "" become `opts.default`. */
export function text(opts: TextOptions = {}) {
  const fallback = opts.default ?? "";
  return textCore(opts, false)
    .nullish()
    .transform((v) => v || fallback)
    .openapi(fallback !== "" ? { default: fallback } : {});
}

/** A string of at most `max` characters that is one of `values` (exact match), `fallback` when absent. */
export function choice(values: readonly string[], fallback: string, max: number) {
  return text({ max, rule: oneOf(values), default: fallback }).openapi({ enum: [...values] });
}

/** Rule: one of a fixed set of values (exact match). */
export function oneOf(values: readonly string[]): Rule {
  return (v) => (values.includes(v) ? undefined : `must be one of ${values.map((x) => JSON.stringify(x)).join(", ")}`);
}

function intCore(min: number, max: number) {
  const between = (iss: { input?: unknown }) => `must be between ${min} and ${max}, got ${String(iss.input)}`;
  return z
    .number({
      error: (iss) =>
        absent(iss.input)
          ? "is required"
          : `must be an integer, got ${typeof iss.input === "number" ? String(iss.input) : describeValue(iss.input)}`,
    })
    .int({ error: (iss) => `must be an integer, got ${String(iss.input)}` })
    .min(min, { error: between })
    .max(max, { error: between });
}

/** A required integer in [min, max]. */
export function requiredInt(min: number, max: number) {
  return z.preprocess((v) => (v === null ? undefined : v), intCore(min, max));
}

/** An optional integer in [min, max]; `fallback` when absent or null. */
export function int(min: number, max: number, fallback: number) {
  return intCore(min, max)
    .nullish()
    .transform((v) => v ?? fallback)
    .openapi({ default: fallback });
}

/**
 * An optional integer whose bounds depend on other fields (checked by the object's refinement):
 * only the type is checked here, and undefined comes back when absent.
 */
export function boundedLater(min: number, max: number) {
  return z
    .number({
      error: (iss) =>
        `must be an integer, got ${typeof iss.input === "number" ? String(iss.input) : describeValue(iss.input)}`,
    })
    .int({ error: (iss) => `must be an integer, got ${String(iss.input)}` })
    .nullish()
    .transform((v) => v ?? undefined)
    .openapi({ minimum: min, maximum: max });
}

/** True or false; false when absent or null. */
export function bool() {
  return z
    .boolean({ error: (iss) => `must be true or false, got ${describeValue(iss.input)}` })
    .nullish()
    .transform((v) => v ?? false)
    .openapi({ default: false });
}

/** Options of {@link textList}. */
export interface TextListOptions {
  /** @default 64 */
  maxItems?: number;
  /** Longest accepted item. @default 1024 */
  maxLength?: number;
  /** Rule run on every item. */
  rule?: Rule;
  /** Flag a repeated item on the repetition. @default false */
  unique?: boolean;
}

/** An array of strings; [] when absent or null. */
export function textList(opts: TextListOptions = {}) {
  const maxItems = opts.maxItems ?? 64;
  const maxLength = opts.maxLength ?? 1024;
  const item = z
    .string({ error: (iss) => `must be a string, got ${describeValue(iss.input)}` })
    .max(maxLength, `must be at most ${maxLength} characters`)
    .superRefine((v, ctx) => {
      const message = opts.rule?.(v);
      if (message !== undefined) ctx.addIssue({ code: "custom", message });
    });
  const list = z
    .array(item, { error: (iss) => `must be an array of strings, got ${describeValue(iss.input)}` })
    .max(maxItems, `must have at most ${maxItems} items`);
  const checked = opts.unique
    ? list.superRefine((items, ctx) => {
        // Runs even when another item failed, so one response lists every problem.
        if (!Array.isArray(items)) return;
        const seen = new Set<string>();
        items.forEach((v, i) => {
          if (typeof v !== "string" || v.length > maxLength || opts.rule?.(v) !== undefined) return;
          if (seen.has(v)) ctx.addIssue({ code: "custom", message: `repeats ${JSON.stringify(v)}`, path: [i] });
          seen.add(v);
        });
      }, evenWithFieldProblems)
    : list;
  return checked
    .nullish()
    .transform((v) => v ?? [])
    .openapi(opts.unique ? { uniqueItems: true } : {});
}

/** Options of {@link textMap}. */
export interface TextMapOptions {
  /** @default 64 */
  maxEntries?: number;
  /** Rule run on every key. */
  keyRule?: Rule;
  /** Rule run on every value (its message must not echo the value: it may be a secret). */
  valueRule?: Rule;
  /** Longest accepted value. @default 8192 */
  maxValueLength?: number;
  /** Flag keys that differ only in letter case (HTTP header names). @default false */
  caseInsensitive?: boolean;
}

/** An object of string values (a proto map<string,string>); {} when absent or null. */
export function textMap(opts: TextMapOptions = {}) {
  const maxEntries = opts.maxEntries ?? 64;
  const maxValueLength = opts.maxValueLength ?? 8192;
  // Entries are checked in one pass, key before value, so each entry has one problem, in input order.
  const entryProblem = (k: string, v: unknown): string | undefined => {
    const keyMessage = opts.keyRule?.(k);
    if (keyMessage !== undefined) return keyMessage;
    if (typeof v !== "string") return `must be a string, got ${describeValue(v)}`;
    if (v.length > maxValueLength) return `must be at most ${maxValueLength} characters`;
    return opts.valueRule?.(v);
  };
  return z
    .record(z.string(), z.unknown().openapi({ type: "string" }), {
      error: (iss) =>
        iss.code === "invalid_type" ? `must be an object of strings, got ${describeValue(iss.input)}` : undefined,
    })
    .superRefine((map, ctx) => {
      const entries = Object.entries(map);
      if (entries.length > maxEntries) {
        ctx.addIssue({ code: "custom", message: `must have at most ${maxEntries} entries` });
        return;
      }
      let ok = true;
      for (const [k, v] of entries) {
        const message = entryProblem(k, v);
        if (message === undefined) continue;
        ok = false;
        ctx.addIssue({ code: "custom", message, path: [k] });
      }
      if (!ok || !opts.caseInsensitive) return;
      const seen = new Set<string>();
      for (const k of Object.keys(map)) {
        const lower = k.toLowerCase();
        if (seen.has(lower))
          ctx.addIssue({
            code: "custom",
            message: `names ${JSON.stringify(k)} twice (header names are case-insensitive)`,
          });
        seen.add(lower);
      }
    })
    .transform((map) => map as Record<string, string>)
    .nullish()
    .transform((v) => v ?? {});
}

/** A strict object whose type error reads "must be an object, got …". */
export function object<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, {
    error: (iss) => (iss.code === "invalid_type" ? `must be an object, got ${describeValue(iss.input)}` : undefined),
  });
}

/** An array of objects (`item`), at most `maxItems`; [] when absent or null. */
export function objectList<T extends z.ZodType>(item: T, maxItems: number) {
  return z
    .array(item, { error: (iss) => `must be an array of objects, got ${describeValue(iss.input)}` })
    .max(maxItems, `must have at most ${maxItems} items`)
    .nullish()
    .transform((v) => v ?? []);
}
