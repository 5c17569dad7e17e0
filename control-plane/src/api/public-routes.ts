import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { GlobalState } from "../consensus/types.js";
import { ProbemeshError } from "../errors.js";
import type { CheckRegistry } from "../registry/types.js";
import { errorResponses } from "./error-schema.js";
import { NO_TOKEN } from "./openapi.js";

/** Options of {@link createPublicRoutes}. */
export interface PublicRoutesOptions {
  /** PROBEMESH_PUBLIC_STATUS: serve the routes; otherwise they answer 404. */
  enabled: boolean;
  registry: Pick<CheckRegistry, "list">;
  /**
   * The global state of a check (may be asked of another replica: a failure shows it "unknown").
   * @default "unknown" for every check (no consensus)
   */
  state?: ((checkId: string) => GlobalState | undefined | Promise<GlobalState | undefined>) | undefined;
}

/** One public check on the status page: nothing but its id and global state. */
export const PublicCheckStatusSchema = z
  .object({
    id: z.string(),
    state: z.enum(["up", "degraded", "partial", "down", "unknown"]),
  })
  .openapi("PublicCheckStatus", { example: { id: "web", state: "up" } });

const PublicStatusSchema = z
  .object({
    checks: z.array(PublicCheckStatusSchema).openapi({ description: 'checks marked `"public": true`, by id' }),
  })
  .openapi("PublicStatus", { example: { checks: [{ id: "web", state: "up" }] } });

const publicStatus = createRoute({
  operationId: "getPublicStatus",
  method: "get",
  path: "/status",
  tags: ["public"],
  summary: "Aggregate status of the public checks, for a status page",
  description:
    'Served without a token when PROBEMESH_PUBLIC_STATUS=true (404 otherwise): the id and global state of each check marked `"public": true`, nothing else (no targets, regions or results).',
  security: NO_TOKEN,
  responses: {
    200: { description: "The public checks", content: { "application/json": { schema: PublicStatusSchema } } },
    ...errorResponses(401, 404, 503),
  },
});

/** GET /v1/public/status (mounted at /v1/public), the only /v1 route served without a token. */
export function createPublicRoutes(opts: PublicRoutesOptions): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(publicStatus, async (c) => {
    if (!opts.enabled)
      throw new ProbemeshError("not_found", "the public status is off (PROBEMESH_PUBLIC_STATUS is not true)");
    const state = async (id: string): Promise<GlobalState> => {
      try {
        return (await opts.state?.(id)) ?? "unknown";
      } catch {
        // Its partition's owner did not answer: one check unknown, not the whole page down.
        return "unknown";
      }
    };
    const publicChecks = (await opts.registry.list()).filter((r) => r.check.public);
    const checks = (
      await Promise.all(publicChecks.map(async (r) => ({ id: r.check.id, state: await state(r.check.id) })))
    ).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return c.json({ checks }, 200);
  });
  return app;
}
