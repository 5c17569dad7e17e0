import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { OutageStore } from "../store/outages.js";
import { rowUidsOf } from "../store/row-uids.js";
import { AVAILABILITY_WINDOWS } from "./availability-query.js";
import { CheckIdParams } from "./check-id-param.js";
import type { KnownCheck } from "./consensus-routes.js";
import { errorResponses } from "./error-schema.js";
import { requires } from "./openapi.js";
import { stringParam, strictQuery } from "./query-params.js";

/** Options of {@link createLatencyRoutes}. */
export interface LatencyRoutesOptions {
  latencyBuckets: OutageStore["latencyBuckets"];
  /** The check of an id (its uid and creation); throws NotFoundError when there is none. */
  knownCheck: (checkId: string) => Promise<KnownCheck>;
  now: () => number;
}

/** Bucket size of each window: at most ~300 points per region, hourly rollup from 7d on. */
export const LATENCY_BUCKETS: Record<string, number> = {
  "1h": 60_000,
  "24h": 5 * 60_000,
  "7d": 3_600_000,
  "30d": 6 * 3_600_000,
};

const WINDOW_MESSAGE = `must be one of ${Object.keys(LATENCY_BUCKETS).join(", ")}`;

const LatencyQuery = strictQuery({
  window: stringParam(WINDOW_MESSAGE, (v) => v in LATENCY_BUCKETS).openapi({
    enum: Object.keys(LATENCY_BUCKETS),
    description: "the window ending now; @default 24h",
  }),
}).openapi("LatencyQuery");

const LatencySchema = z
  .object({
    checkId: z.string(),
    window: z.string(),
    from: z.int().openapi({ description: "epoch ms (not before the check's creation)" }),
    to: z.int().openapi({ description: "epoch ms" }),
    bucketMs: z.int(),
    buckets: z
      .array(
        z.object({
          region: z.string(),
          at: z.int().openapi({ description: "epoch ms the bucket starts" }),
          total: z.int().openapi({ description: "results in the bucket" }),
          down: z.int().openapi({ description: "of which down" }),
          avgDurationMs: z
            .number()
            .openapi({ description: "mean duration of the bucket's results, down ones included" }),
        }),
      )
      .openapi({ description: "by time, then region; buckets without results are absent" }),
  })
  .openapi("Latency", {
    example: {
      checkId: "web",
      window: "24h",
      from: 1767139200000,
      to: 1767225600000,
      bucketMs: 300000,
      buckets: [{ region: "eu-west", at: 1767139200000, total: 10, down: 0, avgDurationMs: 42.5 }],
    },
  });

const getLatency = createRoute({
  operationId: "getCheckLatency",
  method: "get",
  path: "/{id}/latency",
  tags: ["consensus"],
  summary: "Latency per region over time, from the result rollups",
  ...requires("read"),
  request: { params: CheckIdParams, query: LatencyQuery },
  responses: {
    200: { description: "The series", content: { "application/json": { schema: LatencySchema } } },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

/** GET /v1/checks/{id}/latency?window= (mounted at /v1/checks). */
export function createLatencyRoutes(opts: LatencyRoutesOptions): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(getLatency, async (c) => {
    const check = await opts.knownCheck(c.req.valid("param").id);
    const window = c.req.valid("query").window ?? "24h";
    const bucketMs = LATENCY_BUCKETS[window] ?? 300_000;
    const to = opts.now();
    const from = Math.min(Math.max(to - (AVAILABILITY_WINDOWS[window] ?? 86_400_000), check.createdAt ?? 0), to);
    // Only the current check's rows: a re-created id never reads the deleted check's.
    const buckets = await opts.latencyBuckets({
      checkId: check.checkId,
      checkUids: rowUidsOf(check.checkId, check.checkUid, check.createdAt),
      from,
      to,
      bucketMs,
    });
    return c.json({ checkId: check.checkId, window, from, to, bucketMs, buckets }, 200);
  });
  return app;
}
