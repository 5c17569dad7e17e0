import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import { bearerMatches } from "../bearer-token.js";
import { NotFoundError, ProbemeshError, UnauthorizedError, ValidationError } from "../errors.js";
import type { Hooks } from "../hooks/hooks.js";
import { HOOK_ID_PATTERN, publicHook, validateHook } from "../hooks/validate-hook.js";
import { errorResponse } from "./error-response.js";
import { readJson } from "./read-json.js";

/** Options of {@link createHooksRoutes}. */
export interface HooksRoutesOptions {
  hooks: Pick<Hooks, "registry" | "deliveries" | "test">;
  log: Logger;
  /** When set, every hooks route (reads too: hooks name internal endpoints) needs `Authorization: Bearer <token>`. */
  apiToken?: string;
  /** Largest accepted request body. @default 65536 */
  maxBodyBytes?: number;
}

/** Most delivery records one request returns. */
export const MAX_DELIVERIES_LIMIT = 1000;

function hookId(raw: string): string {
  if (!HOOK_ID_PATTERN.test(raw)) {
    throw new ValidationError(`invalid hook id ${JSON.stringify(raw)}`, {
      field: "id",
      problems: [{ field: "id", message: "must match [a-z0-9][a-z0-9_-]{0,62}" }],
    });
  }
  return raw;
}

/**
 * Hooks API (hono sub-app): POST|GET /v1/hooks, GET|PUT|DELETE /v1/hooks/:id,
 * GET /v1/hooks/:id/deliveries?limit=, POST /v1/hooks/:id/test. Secrets are accepted, never
 * returned (except a generated one, once, in the 201 of its creation) and never logged.
 */
export function createHooksRoutes(opts: HooksRoutesOptions): Hono {
  const { hooks } = opts;
  const log = opts.log.child({ component: "hooks-api" });
  const maxBodyBytes = opts.maxBodyBytes ?? 65_536;
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err, log));

  const token = opts.apiToken;
  const auth: MiddlewareHandler = async function hooksAuth(c, next) {
    if (token !== undefined && !bearerMatches(c.req.header("authorization"), token)) throw new UnauthorizedError();
    await next();
  };
  app.use(
    "/v1/hooks",
    auth,
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        errorResponse(
          c,
          new ProbemeshError("payload_too_large", `request body exceeds ${maxBodyBytes} bytes`, {
            limit: maxBodyBytes,
          }),
          log,
        ),
    }),
  );
  app.use(
    "/v1/hooks/*",
    auth,
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        errorResponse(
          c,
          new ProbemeshError("payload_too_large", `request body exceeds ${maxBodyBytes} bytes`, {
            limit: maxBodyBytes,
          }),
          log,
        ),
    }),
  );

  app.post("/v1/hooks", async (c) => {
    const { hook, generatedSecret } = validateHook(await readJson(c), { mode: "create" });
    const record = await hooks.registry.create(hook);
    log.info({ hookId: hook.id, type: hook.type }, "hook created");
    // A generated secret is shown this once; afterwards only "whsec_***".
    return c.json({ ...publicHook(record), ...(generatedSecret ? { secret: generatedSecret } : {}) }, 201);
  });

  app.get("/v1/hooks", async (c) => c.json((await hooks.registry.list()).map(publicHook)));

  app.get("/v1/hooks/:id", async (c) => {
    const id = hookId(c.req.param("id"));
    const record = await hooks.registry.get(id);
    if (!record) throw new NotFoundError("hook", id);
    return c.json(publicHook(record));
  });

  app.put("/v1/hooks/:id", async (c) => {
    const id = hookId(c.req.param("id"));
    const body = await readJson(c);
    const existing = await hooks.registry.get(id);
    if (!existing) throw new NotFoundError("hook", id);
    const { hook, generatedSecret } = validateHook(body, { mode: "replace", id, existing: existing.hook });
    const record = await hooks.registry.replace(hook);
    log.info({ hookId: id, type: hook.type }, "hook replaced");
    return c.json({ ...publicHook(record), ...(generatedSecret ? { secret: generatedSecret } : {}) });
  });

  app.delete("/v1/hooks/:id", async (c) => {
    const id = hookId(c.req.param("id"));
    if (!(await hooks.registry.delete(id))) throw new NotFoundError("hook", id);
    log.info({ hookId: id }, "hook deleted");
    return c.body(null, 204);
  });

  app.get("/v1/hooks/:id/deliveries", async (c) => {
    const id = hookId(c.req.param("id"));
    const raw = c.req.query("limit");
    let limit = 100;
    if (raw !== undefined) {
      limit = Number(raw);
      if (!/^\d+$/.test(raw) || limit < 1 || limit > MAX_DELIVERIES_LIMIT) {
        throw new ValidationError(`limit must be an integer between 1 and ${MAX_DELIVERIES_LIMIT}`, {
          field: "limit",
          problems: [{ field: "limit", message: `must be an integer between 1 and ${MAX_DELIVERIES_LIMIT}` }],
        });
      }
    }
    for (const key of new URL(c.req.url).searchParams.keys()) {
      if (key !== "limit")
        throw new ValidationError(`unknown query parameter ${JSON.stringify(key)}`, {
          field: key,
          problems: [{ field: key, message: "unknown query parameter" }],
        });
    }
    if (!(await hooks.registry.get(id))) throw new NotFoundError("hook", id);
    return c.json(await hooks.deliveries.list(id, { limit }));
  });

  app.post("/v1/hooks/:id/test", async (c) => {
    const id = hookId(c.req.param("id"));
    const sent = await hooks.test(id);
    return c.json({ ...sent, status: "enqueued" }, 202);
  });

  return app;
}
