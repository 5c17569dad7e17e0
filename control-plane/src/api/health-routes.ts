import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Logger } from "pino";

/** What each dependency reports for GET /readyz. */
export interface Readiness {
  /** NATS connected and the check registry loaded. */
  nats: boolean;
  /** ClickHouse answers a ping. */
  clickhouse: boolean;
  /** Schema migrations have run. */
  migrations: boolean;
}

const ReadinessSchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    nats: z.boolean(),
    clickhouse: z.boolean(),
    migrations: z.boolean(),
    notReady: z.array(z.enum(["nats", "clickhouse", "migrations"])),
  })
  .openapi("Readiness", {
    example: {
      status: "not_ready",
      nats: true,
      clickhouse: false,
      migrations: false,
      notReady: ["clickhouse", "migrations"],
    },
  });

const tags = ["health"];

const healthz = createRoute({
  operationId: "healthz",
  method: "get",
  path: "/healthz",
  tags,
  summary: "Liveness",
  security: [],
  responses: {
    200: {
      description: "The process serves requests",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }).openapi("Health") } },
    },
  },
});

const readyz = createRoute({
  operationId: "readyz",
  method: "get",
  path: "/readyz",
  tags,
  summary: "Readiness",
  security: [],
  responses: {
    200: { description: "Every dependency is ready", content: { "application/json": { schema: ReadinessSchema } } },
    503: { description: "Some dependency is not ready", content: { "application/json": { schema: ReadinessSchema } } },
  },
});

/** GET /healthz and GET /readyz (no auth). */
export function createHealthRoutes({ ready, log }: { ready: () => Promise<Readiness>; log: Logger }): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(healthz, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(readyz, async (c) => {
    const r = await ready().catch((err: unknown) => {
      log.warn({ err }, "readiness probe failed");
      return { nats: false, clickhouse: false, migrations: false };
    });
    const ok = r.nats && r.clickhouse && r.migrations;
    const notReady = (Object.keys(r) as (keyof Readiness)[]).filter((k) => !r[k]);
    const body = { status: ok ? ("ready" as const) : ("not_ready" as const), ...r, notReady };
    return ok ? c.json(body, 200) : c.json(body, 503);
  });
  return app;
}
