import { z } from "@hono/zod-openapi";
import { evenWithFieldProblems } from "../schemas/fields.js";
import { isSubjectToken } from "@probemesh/proto";
import type { ResultQuery } from "../store/types.js";
import { epochParam, integerParam, stringParam, strictQuery } from "./query-params.js";

/** Results returned when no limit is given. @default 100 */
export const DEFAULT_RESULTS_LIMIT = 100;
/** Largest accepted limit. */
export const MAX_RESULTS_LIMIT = 10_000;
/** Window when no `from` is given: one hour before `to`. @default 3600000 */
export const DEFAULT_RESULTS_WINDOW_MS = 3_600_000;

/**
 * `?from=&to=&region=&limit=` of GET /v1/checks/{id}/results, strictly (epoch ms as plain digits,
 * `to` exclusive and `now()` when absent, `from` one hour before `to` when absent, limit 1..10000).
 * The output is the store query without the check id. Nothing unchecked reaches SQL.
 */
export function resultsQuery(now: () => number) {
  return strictQuery({
    from: epochParam().openapi({ description: "inclusive, epoch ms; default one hour before `to`" }),
    to: epochParam().openapi({ description: "exclusive, epoch ms; default now" }),
    region: stringParam("must be a region name (A-Z a-z 0-9 _ -)", isSubjectToken).openapi({ example: "eu-west" }),
    limit: integerParam(1, MAX_RESULTS_LIMIT, DEFAULT_RESULTS_LIMIT).openapi({ description: "newest first" }),
  })
    .superRefine(fromBeforeTo, evenWithFieldProblems)
    .transform((q, ctx): Omit<ResultQuery, "checkId"> => {
      const to = q.to ?? now();
      const from = q.from ?? Math.max(0, to - DEFAULT_RESULTS_WINDOW_MS);
      if (from >= to) ctx.addIssue({ code: "custom", message: "must be before to", path: ["from"] });
      return { from, to, limit: q.limit, ...(q.region !== undefined ? { region: q.region } : {}) };
    })
    .openapi("ResultsQuery");
}

/** "from must be before to" when both are given, even when other parameters failed. */
export function fromBeforeTo(q: { from?: unknown; to?: unknown }, ctx: z.RefinementCtx): void {
  if (typeof q.from === "number" && typeof q.to === "number" && q.from >= q.to)
    ctx.addIssue({ code: "custom", message: "must be before to", path: ["from"] });
}

/** A stored probe result as GET /v1/checks/{id}/results returns it (newest first). */
export const ResultSchema = z
  .object({
    id: z.string(),
    checkId: z.string(),
    checkUid: z
      .string()
      .openapi({ description: 'uid of the check the result belongs to ("" for checks from before uids)' }),
    checkVersion: z.int(),
    agentId: z.string(),
    region: z.string(),
    provider: z.string(),
    startedAt: z.int().openapi({ description: "epoch ms" }),
    durationMs: z.number(),
    state: z.enum(["up", "degraded", "down"]),
    reason: z.string().openapi({ description: 'classified failure reason; "" when up' }),
    message: z.string(),
    phases: z.object({
      dnsMs: z.number(),
      connectMs: z.number(),
      tlsMs: z.number(),
      ttfbMs: z.number(),
      transferMs: z.number(),
    }),
    seq: z.int(),
    attempts: z.int(),
    target: z.string(),
    canary: z.boolean(),
    lagMs: z.number(),
    httpStatus: z.int().openapi({ description: "HTTP checks; 0 when no response" }),
    bodyBytes: z.int(),
    details: z.record(z.string(), z.unknown()).openapi({ description: "type-specific facts (tls, dns, icmp, grpc)" }),
  })
  .openapi("Result", {
    example: {
      id: "01J9Z6Q4X3",
      checkId: "web",
      checkVersion: 1,
      agentId: "agent-eu-1",
      region: "eu-west",
      provider: "hetzner",
      startedAt: 1767225600000,
      durationMs: 84,
      state: "up",
      reason: "",
      message: "",
      phases: { dnsMs: 2, connectMs: 10, tlsMs: 30, ttfbMs: 40, transferMs: 2 },
      seq: 42,
      attempts: 1,
      target: "https://example.com/health",
      canary: false,
      lagMs: 15,
      httpStatus: 200,
      bodyBytes: 512,
      details: {},
    },
  });
