import { z } from "@hono/zod-openapi";
import { evenWithFieldProblems } from "../schemas/fields.js";
import { epochParam, strictQuery } from "./query-params.js";

/** Windows GET /v1/checks/{id}/availability accepts instead of from/to. */
export const AVAILABILITY_WINDOWS: Record<string, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

const SLO_MESSAGE = "must be a percentage in (0, 100], e.g. 99.9";

/**
 * `?from=&to=&window=&slo=` of GET /v1/checks/{id}/availability: either a window ending now or
 * from/to (`to` defaults to now, `from` to 24 h before `to`); the SLO target in percent. The
 * output has the resolved `from` and `to` (`now` is the injected clock).
 */
export function availabilityQuery(now: () => number) {
  return strictQuery({
    from: epochParam(),
    to: epochParam(),
    window: z
      .string({ error: (iss) => (Array.isArray(iss.input) ? "must be given at most once" : "must be a string") })
      .optional()
      .openapi({ enum: Object.keys(AVAILABILITY_WINDOWS), description: "instead of from/to; default 24h" }),
    slo: z
      .string({ error: (iss) => (Array.isArray(iss.input) ? "must be given at most once" : SLO_MESSAGE) })
      .regex(/^\d{1,3}(\.\d{1,6})?$/, SLO_MESSAGE)
      .refine((v) => Number(v) > 0 && Number(v) <= 100, SLO_MESSAGE)
      .transform(Number)
      .optional()
      .openapi({ type: "string", description: "SLO target in percent; default the control plane's", example: "99.9" }),
  })
    .superRefine((q, ctx) => {
      if (q.window === undefined) return;
      if (q.from !== undefined || q.to !== undefined)
        ctx.addIssue({ code: "custom", message: "give either window or from/to, not both", path: ["window"] });
      else if (typeof q.window === "string" && !(q.window in AVAILABILITY_WINDOWS))
        ctx.addIssue({
          code: "custom",
          message: `must be one of ${Object.keys(AVAILABILITY_WINDOWS).join(", ")}`,
          path: ["window"],
        });
    }, evenWithFieldProblems)
    .transform((q, ctx) => {
      const to = q.to ?? now();
      const from = q.from ?? to - (AVAILABILITY_WINDOWS[q.window ?? "24h"] ?? 86_400_000);
      if (from >= to) ctx.addIssue({ code: "custom", message: "must be before to", path: ["from"] });
      return { from: Math.max(0, from), to, ...(q.slo !== undefined ? { slo: q.slo } : {}) };
    })
    .openapi("AvailabilityQuery");
}
