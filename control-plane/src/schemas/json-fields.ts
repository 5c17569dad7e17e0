import { z } from "@hono/zod-openapi";

// Field schemas that read JSON the way the API always has: `null` counts as absent (as in proto3
// JSON), an absent or empty string is "" unless required, and each field reports at most one
// problem, in words that never echo the value (it may be a secret).

/** Checks a string value; returns a problem message, or undefined when it is fine. */
export type Rule = (value: string) => string | undefined;

/** "null", "an array", "an object" or "a <typeof>": what a wrong value was, without its content. */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

// A later check runs only on a value that passed the earlier ones, so a field reports one problem.
// (Not `abort: true`: that would also stop the cross-field checks of the enclosing object.)
const ifClean = { when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 };

const nullIsAbsent = (v: unknown): unknown => (v === null ? undefined : v);
const emptyIsAbsent = (v: unknown): unknown => (v === null || v === "" ? undefined : v);

/** The message of a wrong type: "is required" when absent, else `must be <what>, got <kind>`. */
export function typeError(what: string, required = "is required"): (iss: { input?: unknown }) => string {
  return (iss) => (iss.input === undefined ? required : `must be ${what}, got ${describeJson(iss.input)}`);
}

function ruled(max: number, rule?: Rule) {
  return z
    .string({ error: typeError("a string") })
    .max(max, { error: `must be at most ${max} characters` })
    .superRefine((v, ctx) => {
      const message = v === "" ? "is required" : rule?.(v);
      if (message !== undefined) ctx.addIssue({ code: "custom", message, input: v });
    }, ifClean);
}

/** Options of {@link text}. */
export interface TextOptions {
  /** Longest accepted value in characters. */
  max: number;
  /** Further rule run on non-empty values. */
  rule?: Rule;
}

/** A required string: absent, null and "" are "is required". */
export function requiredText(opts: TextOptions) {
  return z.preprocess(emptyIsAbsent, ruled(opts.max, opts.rule));
}

/** An optional string: absent, null and "" read as `fallback`. @default "" */
export function text(opts: TextOptions & { fallback?: string }) {
  const fallback = opts.fallback ?? "";
  const schema = z.preprocess(emptyIsAbsent, ruled(opts.max, opts.rule).optional());
  return (fallback === "" ? schema : schema.openapi({ default: fallback })).transform((v) => v ?? fallback);
}

/** One of `values` (at most `max` characters); absent, null and "" read as `fallback` when given. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, max: number, fallback?: T[number]) {
  const list = values.map((v) => JSON.stringify(v)).join(", ");
  const schema = z.enum(values, {
    error: (iss) => {
      if (iss.input === undefined || typeof iss.input !== "string") return typeError("a string")(iss);
      return iss.input.length > max ? `must be at most ${max} characters` : `must be one of ${list}`;
    },
  });
  return fallback === undefined
    ? z.preprocess(emptyIsAbsent, schema)
    : z.preprocess(emptyIsAbsent, schema.optional().default(fallback as never));
}

/** An integer in [min, max]; absent and null read as `fallback`. */
export function int(min: number, max: number, fallback: number) {
  // One refinement rather than zod's int/min/max checks: its int check aborts the enclosing object's
  // cross-field checks, and the old messages name the range rather than the bound that was crossed.
  return z.preprocess(
    nullIsAbsent,
    z
      .number({ error: typeError("an integer") })
      .superRefine((v, ctx) => {
        if (!Number.isInteger(v)) ctx.addIssue({ code: "custom", message: `must be an integer, got ${v}`, input: v });
        else if (v < min || v > max)
          ctx.addIssue({ code: "custom", message: `must be between ${min} and ${max}, got ${v}`, input: v });
      })
      .optional()
      .default(fallback)
      .openapi({ type: "integer", minimum: min, maximum: max }),
  );
}

/** A boolean; absent and null read as false. */
export function bool() {
  return z.preprocess(
    nullIsAbsent,
    z
      .boolean({ error: typeError("true or false") })
      .optional()
      .default(false),
  );
}

/** Options of {@link list}. */
export interface ListOptions {
  maxItems: number;
  /** Longest accepted item. */
  maxLength: number;
  /** Rule run on every item (the empty string included). */
  rule?: Rule;
  /** Report repeated items. @default false */
  unique?: boolean;
}

/** An array of strings; absent and null read as []. */
export function list(opts: ListOptions) {
  const { maxItems, maxLength, rule, unique = false } = opts;
  const item = z
    .string({ error: typeError("a string") })
    .max(maxLength, { error: `must be at most ${maxLength} characters` })
    .superRefine((v, ctx) => {
      const message = rule?.(v);
      if (message !== undefined) ctx.addIssue({ code: "custom", message, input: v });
    }, ifClean);
  const valid = (v: unknown): v is string => typeof v === "string" && v.length <= maxLength && rule?.(v) === undefined;
  return z.preprocess(
    nullIsAbsent,
    z
      .array(item, { error: typeError("an array of strings") })
      // Not zod's max(): with the check below that always runs, max() would also run on a non-array.
      .superRefine(
        (items, ctx) => {
          if (items.length > maxItems) ctx.addIssue({ code: "custom", message: `must have at most ${maxItems} items` });
        },
        { when: (p) => Array.isArray(p.value) },
      )
      .superRefine(
        (items, ctx) => {
          // A repeat is reported even when another item is bad, as long as both copies are valid.
          if (!unique || !Array.isArray(items) || items.length > maxItems) return;
          const seen: string[] = [];
          items.forEach((v: unknown, i) => {
            if (!valid(v)) return;
            if (seen.includes(v))
              ctx.addIssue({ code: "custom", message: `repeats ${JSON.stringify(v)}`, path: [i], input: v });
            else seen.push(v);
          });
        },
        { when: () => true },
      )
      .optional()
      .default([])
      .openapi({ maxItems }),
  );
}

/** Options of {@link stringMap}. */
export interface StringMapOptions {
  maxEntries: number;
  /** Rule run on every key. */
  keyRule: Rule;
  /** Longest accepted value. */
  maxValueLength: number;
}

/** An object of string values (a proto map<string,string>); absent and null read as {}. */
export function stringMap(opts: StringMapOptions) {
  const value = z
    .string({ error: typeError("a string") })
    .max(opts.maxValueLength, { error: `must be at most ${opts.maxValueLength} characters` });
  return z.preprocess(
    nullIsAbsent,
    z
      .record(z.string(), value, { error: typeError("an object of strings") })
      .superRefine(
        (map, ctx) => {
          if (typeof map !== "object" || map === null || Array.isArray(map)) return;
          const keys = Object.keys(map);
          if (keys.length > opts.maxEntries)
            ctx.addIssue({ code: "custom", message: `must have at most ${opts.maxEntries} entries`, input: map });
          for (const k of keys) {
            const message = opts.keyRule(k);
            if (message !== undefined) ctx.addIssue({ code: "custom", message, path: [k], input: k });
          }
        },
        { when: () => true },
      )
      .optional()
      .default({}),
  );
}

/** A field that must be absent (or null): `message` says why. Documented as accepting nothing. */
export function absent(message: string) {
  return z
    .unknown()
    .superRefine((v, ctx) => {
      if (v !== undefined && v !== null) ctx.addIssue({ code: "custom", message, input: undefined });
    })
    .optional()
    .openapi({ not: {}, description: message });
}
