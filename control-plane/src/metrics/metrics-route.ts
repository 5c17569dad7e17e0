import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { requires } from "../api/openapi.js";

/** What the route serves: the exposition and its content type. */
export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

const read = requires("read");

/** GET /metrics, behind `auth` (the API's bearer guard) and the read scope. */
export function createMetricsRoutes({ metrics, auth }: { metrics: MetricsSource; auth: MiddlewareHandler }) {
  const route = createRoute({
    operationId: "getMetrics",
    method: "get",
    path: "/metrics",
    tags: ["health"],
    summary: "Prometheus metrics of this replica (text exposition format)",
    description:
      "Ingest, consensus, hooks and API counters, process metrics, and per check and region `probe_success`, `probe_duration_seconds` and `probemesh_check_state` for the checks whose partition this replica decides. Without a token on PROBEMESH_METRICS_ADDR.",
    ...read,
    middleware: [auth, ...read.middleware],
    responses: {
      200: {
        description: "The metrics",
        content: { "text/plain": { schema: z.string().openapi("MetricsExposition") } },
      },
    },
  });
  const app = new OpenAPIHono();
  app.openapi(route, async (c) => {
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { "content-type": contentType }) as never;
  });
  return app;
}
