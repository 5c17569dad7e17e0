import { z } from "@hono/zod-openapi";
import { hookIdProblem, HOOK_ID_PATTERN } from "../hooks/hook-schema.js";
import { evenWithFieldProblems, object, requiredText, text, textList, textMap } from "../schemas/fields.js";
import { parseOrThrow } from "../schemas/issues.js";
import { checkId, labelKey, labelValue } from "../checks/rules.js";
import type { MaintenanceWindow } from "./types.js";

/** Most check ids one window names. */
export const MAX_WINDOW_CHECKS = 256;
/** Most label pairs one window selects by. */
export const MAX_WINDOW_LABELS = 16;
/** Shortest repeat period (one minute). */
export const MIN_REPEAT_EVERY_MS = 60_000;

const epochMs = (what: string) =>
  z
    .number({
      error: (iss) =>
        iss.input === undefined || iss.input === null
          ? "is required"
          : `must be an integer (epoch milliseconds), got ${typeof iss.input === "number" ? String(iss.input) : typeof iss.input}`,
    })
    .int({ error: (iss) => `must be an integer (epoch milliseconds), got ${String(iss.input)}` })
    .min(0, "must be at least 0")
    .openapi({ description: what, example: 1767225600000 });

const RepeatBody = object({
  everyMs: z
    .number({ error: () => "is required: the period in milliseconds" })
    .int("must be an integer")
    .min(MIN_REPEAT_EVERY_MS, `must be at least ${MIN_REPEAT_EVERY_MS} (one minute)`)
    .openapi({ description: "period: the window recurs every `everyMs` from `from`", example: 604800000 }),
  until: epochMs("no occurrence starts at or after this time (epoch ms); absent: forever").nullish(),
}).openapi("MaintenanceRepeat");

/** The API form of a maintenance window (POST /v1/maintenance). */
export const MaintenanceWindowBody = object({
  id: requiredText({ max: 63, rule: hookIdProblem }).openapi({
    pattern: HOOK_ID_PATTERN.source,
    example: "db-upgrade",
  }),
  checks: z
    .union([
      z.literal("*"),
      textList({ maxItems: MAX_WINDOW_CHECKS, maxLength: 63, rule: checkId, unique: true }).refine(
        (list) => list.length > 0,
        'must name at least one check, or be "*" for every check',
      ),
    ])
    .nullish()
    .openapi({
      description: 'check ids, or "*" for every check; exactly one of `checks` and `labels`',
      example: ["web"],
    }),
  labels: textMap({ maxEntries: MAX_WINDOW_LABELS, keyRule: labelKey, valueRule: labelValue }).openapi({
    description:
      "selects the checks whose labels include every pair (at the time an incident opens); " +
      "exactly one of `checks` and `labels`",
    example: { team: "payments" },
  }),
  from: epochMs("start (epoch ms, inclusive)"),
  to: epochMs("end (epoch ms, exclusive)"),
  repeat: RepeatBody.nullish(),
  description: text({ max: 1024 }),
})
  .superRefine((v, ctx) => {
    const labelCount = v.labels && typeof v.labels === "object" ? Object.keys(v.labels).length : 0;
    const hasChecks = v.checks !== undefined && v.checks !== null;
    if (hasChecks && labelCount > 0)
      ctx.addIssue({ code: "custom", message: "give either checks or labels, not both", path: ["labels"] });
    else if (!hasChecks && labelCount === 0)
      ctx.addIssue({
        code: "custom",
        message: 'is required: check ids, "*" for every check, or `labels` to select checks by label',
        path: ["checks"],
      });
    if (typeof v.from === "number" && typeof v.to === "number" && v.from >= v.to)
      ctx.addIssue({ code: "custom", message: "must be after from", path: ["to"] });
    const r = v.repeat as { everyMs?: unknown; until?: unknown } | null | undefined;
    if (r && typeof r.everyMs === "number" && typeof v.from === "number" && typeof v.to === "number") {
      if (v.to - v.from > r.everyMs)
        ctx.addIssue({
          code: "custom",
          message: "must be at least the window's length (to - from)",
          path: ["repeat", "everyMs"],
        });
    }
    if (r && typeof r.until === "number" && typeof v.from === "number" && r.until <= v.from)
      ctx.addIssue({ code: "custom", message: "must be after from", path: ["repeat", "until"] });
  }, evenWithFieldProblems)
  .openapi("MaintenanceWindow", {
    example: {
      id: "db-upgrade",
      checks: ["web"],
      from: 1767225600000,
      to: 1767229200000,
      repeat: { everyMs: 604800000 },
      description: "weekly database maintenance",
    },
  });

/**
 * Validates the API form of a maintenance window and returns it normalised (no nulls, no empty
 * description). Throws a ValidationError listing every problem.
 */
export function validateMaintenanceWindow(json: unknown): MaintenanceWindow {
  const body = parseOrThrow(MaintenanceWindowBody, json, "maintenance window");
  return {
    id: body.id,
    checks: body.checks === "*" ? "*" : (body.checks ?? []),
    ...(Object.keys(body.labels).length > 0 ? { labels: body.labels } : {}),
    from: body.from,
    to: body.to,
    ...(body.repeat
      ? { repeat: { everyMs: body.repeat.everyMs, ...(body.repeat.until != null ? { until: body.repeat.until } : {}) } }
      : {}),
    ...(body.description !== "" ? { description: body.description } : {}),
  };
}
