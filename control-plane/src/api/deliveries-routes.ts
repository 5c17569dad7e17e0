import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { checkId } from "../checks/rules.js";
import { redactDelivery } from "../hooks/delivery-log.js";
import { DeliverySchema } from "../hooks/hook-response-schemas.js";
import { HOOK_ID_PATTERN } from "../hooks/validate-hook.js";
import type { Hooks } from "../hooks/hooks.js";
import { HOOK_TYPES, type DeliveryRecord, type HookType } from "../hooks/types.js";
import { errorResponses } from "./error-schema.js";
import { MAX_DELIVERIES_LIMIT } from "./hooks-routes.js";
import { requires } from "./openapi.js";
import { integerParam, stringParam, strictQuery } from "./query-params.js";

/** Options of {@link createDeliveriesRoutes}. */
export interface DeliveriesRoutesOptions {
  hooks: Pick<Hooks, "registry" | "deliveries">;
}

/** One line of the read-scoped delivery log ({@link redactDelivery}: no error or result texts). */
export const PublicDeliverySchema = DeliverySchema.pick({
  hookId: true,
  eventId: true,
  eventType: true,
  checkId: true,
  deliveryId: true,
  attempt: true,
  outcome: true,
  status: true,
  latencyMs: true,
  at: true,
  retryAt: true,
})
  .extend({ hookType: z.enum(HOOK_TYPES).openapi({ description: "the hook's type" }) })
  .openapi("PublicDelivery");

/** A delivery record as {@link PublicDeliverySchema} shows it: {@link redactDelivery} and the hook's type. */
export function publicDelivery(r: DeliveryRecord, hookType: HookType) {
  return { ...redactDelivery(r), hookType };
}

const DeliveriesQuery = strictQuery({
  hookId: stringParam("must match [a-z0-9][a-z0-9_-]{0,62}", (v) => HOOK_ID_PATTERN.test(v)).openapi({
    description: "only this hook's deliveries",
    example: "dns-failover",
  }),
  checkId: stringParam("must be a check id", (v) => checkId(v) === undefined).openapi({
    description: `only deliveries of this check (among each hook's newest ${MAX_DELIVERIES_LIMIT} records)`,
    example: "web",
  }),
  limit: integerParam(1, MAX_DELIVERIES_LIMIT, 100).openapi({
    description: "newest records to return, oldest first",
  }),
}).openapi("DeliveriesQuery");

const listAllDeliveries = createRoute({
  operationId: "listAllDeliveries",
  method: "get",
  path: "/",
  tags: ["hooks"],
  summary: "Recent deliveries across hooks, without hook URLs, secrets or error texts",
  description:
    "The delivery log of every configured hook (or one, `hookId`), merged by time: outcome, attempt, the receiver's HTTP status. " +
    "Read scope, for dashboards; the full records (errors, action results) are in the admin `GET /v1/hooks/{id}/deliveries`.",
  ...requires("read"),
  request: { query: DeliveriesQuery },
  responses: {
    200: {
      description: "Delivery records, oldest first",
      content: { "application/json": { schema: z.array(PublicDeliverySchema) } },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

/** GET /v1/deliveries (mounted at /v1/deliveries): the read-scoped, redacted delivery log. */
export function createDeliveriesRoutes(opts: DeliveriesRoutesOptions): OpenAPIHono {
  const { registry, deliveries } = opts.hooks;
  const app = new OpenAPIHono();
  app.openapi(listAllDeliveries, async (c) => {
    const q = c.req.valid("query");
    const hooks = (await registry.list()).filter((r) => q.hookId === undefined || r.hook.id === q.hookId);
    // With a check filter, read each hook's whole kept log so `limit` counts matching records.
    const perHook = q.checkId === undefined ? q.limit : MAX_DELIVERIES_LIMIT;
    const logs = await Promise.all(
      hooks.map(async ({ hook }) =>
        (await deliveries.list(hook.id, { limit: perHook }))
          .filter((r) => q.checkId === undefined || r.checkId === q.checkId)
          .map((r) => publicDelivery(r, hook.type)),
      ),
    );
    const merged = logs.flat().sort((a, b) => a.at - b.at || (a.hookId < b.hookId ? -1 : a.hookId > b.hookId ? 1 : 0));
    return c.json(merged.slice(-q.limit), 200);
  });
  return app;
}
