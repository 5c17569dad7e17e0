import { z } from "@hono/zod-openapi";

// Query parameter schemas: strict (unknown and repeated parameters are problems, all listed in one
// 400 with the others), and nothing that is not plain digits within range comes back as a number.

/** The largest epoch ms a JavaScript Date can hold; anything larger is not a time. */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;

/** A query parameter given once, as a string ("must be given at most once" when repeated). */
function once(message: string) {
  return z.string({ error: (iss) => (Array.isArray(iss.input) ? "must be given at most once" : message) });
}

/** A time in epoch milliseconds, digits only. */
export function epochParam() {
  const message = "must be a time in epoch milliseconds (digits only)";
  return once(message)
    .regex(/^\d{1,16}$/, message)
    .refine((v) => Number(v) <= MAX_EPOCH_MS, message)
    .transform(Number)
    .optional()
    .openapi({ type: "string", pattern: "^\\d{1,16}$", example: "1767225600000" });
}

/** An integer in [min, max], digits only, `fallback` when absent. */
export function integerParam(min: number, max: number, fallback: number) {
  const message = `must be an integer between ${min} and ${max}`;
  return once(message)
    .regex(/^\d{1,9}$/, message)
    .refine((v) => Number(v) >= min && Number(v) <= max, message)
    .transform(Number)
    .optional()
    .transform((v) => v ?? fallback)
    .openapi({ type: "string", pattern: "^\\d{1,9}$", default: String(fallback) });
}

/** A string parameter checked by `rule` (returns a problem message or undefined). */
export function stringParam(message: string, rule: (v: string) => boolean) {
  return once(message).refine(rule, message).optional().openapi({ type: "string" });
}

/** A query schema: the given parameters, each at most once; any other is "unknown query parameter". */
export function strictQuery<S extends z.ZodRawShape>(shape: S) {
  const message = `unknown query parameter (known: ${Object.keys(shape).join(", ")})`;
  // A catchall that always fails (rather than a strict object) carries this message to the one
  // validation hook, which does not know the schema.
  const unknown = z.unknown().superRefine((_v, ctx) => ctx.addIssue({ code: "custom", message }));
  return z.object(shape).catchall(unknown);
}
