import { createRoute, OpenAPIHono, z, type Hook as ValidationHook } from "@hono/zod-openapi";
import type { Env, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import { NotFoundError, ProbemeshError, ValidationError } from "../errors.js";
import { ETAG_HEADER, etagOf, IF_MATCH_DESCRIPTION, IfMatchHeaders, writeCondition } from "./etag.js";
import { DeliverySchema, HookSchema, TestEventResultSchema } from "../hooks/hook-response-schemas.js";
import { HookInputSchema } from "../hooks/hook-schema.js";
import type { Hooks } from "../hooks/hooks.js";
import { HOOK_ID_PATTERN, publicHook, validateHook } from "../hooks/validate-hook.js";
import { zodProblems } from "../schemas/issues.js";
import { bearerAuth, tokenAuthenticator } from "./bearer-auth.js";
import { ErrorBodySchema, errorResponse } from "./error-response.js";
import { requires } from "./openapi.js";
import { readJson } from "./read-json.js";

/** Options of {@link createHooksApi}. */
export interface HooksApiOptions {
  hooks: Pick<Hooks, "registry" | "deliveries" | "test">;
  log: Logger;
  /**
   * Guard run before every hooks route (reads too: hooks name internal endpoints), e.g.
   * {@link requireHooksToken}. @default none (the mounting app guards the routes)
   */
  auth?: MiddlewareHandler;
  /** Largest accepted request body. @default 65536 */
  maxBodyBytes?: number;
}

/** Most delivery records one request returns. */
export const MAX_DELIVERIES_LIMIT = 1000;

/**
 * Guard of the hooks routes mounted on their own: every request, reads included, needs
 * `Authorization: Bearer <token>`, which grants every scope.
 */
export function requireHooksToken(token: string): MiddlewareHandler {
  return bearerAuth({ authenticate: tokenAuthenticator(token) });
}

const ID_PROBLEM = "must match [a-z0-9][a-z0-9_-]{0,62}";
const LIMIT_PROBLEM = `must be an integer between 1 and ${MAX_DELIVERIES_LIMIT}`;

const IdParams = z.object({
  id: z
    .string()
    .regex(HOOK_ID_PATTERN, { error: ID_PROBLEM })
    .openapi({ param: { name: "id", in: "path" }, example: "dns-failover" }),
});

const DeliveriesQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d+$/, { error: LIMIT_PROBLEM })
    .transform(Number)
    .pipe(z.number().min(1, { error: LIMIT_PROBLEM }).max(MAX_DELIVERIES_LIMIT, { error: LIMIT_PROBLEM }))
    .optional()
    .openapi({
      param: { name: "limit", in: "query" },
      description: `Newest records to return, oldest first (1-${MAX_DELIVERIES_LIMIT}). @default 100`,
      example: "100",
    }),
});

/**
 * Turns a failed validation of the path or query into the API's ValidationError, worded as the
 * hooks API always has. (Bodies are validated in the handlers, see {@link createHooksApi}.)
 */
const validationFailed: ValidationHook<unknown, Env, string, unknown> = (result, c) => {
  if (result.success) return;
  const problems = zodProblems(result.error);
  if (result.target === "param") {
    throw new ValidationError(`invalid hook id ${JSON.stringify(c.req.param("id") ?? "")}`, {
      field: "id",
      problems: [{ field: "id", message: ID_PROBLEM }],
    });
  }
  const named = problems.map((p) =>
    p.message.startsWith("unknown field") ? { field: p.field, message: "unknown query parameter" } : p,
  );
  const first = named[0] ?? { field: result.target, message: "is invalid" };
  throw new ValidationError(
    first.message === "unknown query parameter"
      ? `unknown query parameter ${JSON.stringify(first.field)}`
      : `${first.field} ${first.message}`,
    { field: first.field, problems: named },
  );
};

const errors = (statuses: Record<number, string>) =>
  Object.fromEntries(
    Object.entries(statuses).map(([status, description]) => [
      status,
      { description, content: { "application/json": { schema: ErrorBodySchema } } },
    ]),
  ) as Record<number, { description: string; content: { "application/json": { schema: typeof ErrorBodySchema } } }>;

const tags = ["hooks"];
// The body is referenced, not given as a zod schema, so that @hono/zod-openapi adds no validator:
// the handlers validate it against the stored hook (masked secrets, type changes; 404 before 400
// on PUT) and name "body" when it is not JSON, as the API always has.
const hookBody = {
  required: true,
  content: { "application/json": { schema: { $ref: "#/components/schemas/HookInput" } } },
};
const hookJson = (description: string) => ({ description, content: { "application/json": { schema: HookSchema } } });

const createHook = createRoute({
  operationId: "createHook",
  method: "post",
  path: "/",
  tags,
  ...requires("admin"),
  summary: "Create a hook",
  description: "A secret generated for an HTTP hook is returned once, in this answer; afterwards it reads whsec_***.",
  request: { body: hookBody },
  responses: {
    201: hookJson("The hook"),
    ...errors({
      400: "Invalid hook: every problem listed",
      401: "Missing or wrong token",
      403: "The token lacks the admin scope",
      409: "The id exists",
      413: "Body too large",
    }),
  },
});

const listHooks = createRoute({
  operationId: "listHooks",
  method: "get",
  path: "/",
  tags,
  ...requires("admin"),
  summary: "List hooks",
  responses: {
    200: { description: "Every hook", content: { "application/json": { schema: z.array(HookSchema) } } },
    ...errors({ 401: "Missing or wrong token", 403: "The token lacks the admin scope" }),
  },
});

const getHook = createRoute({
  operationId: "getHook",
  method: "get",
  path: "/{id}",
  tags,
  ...requires("admin"),
  summary: "Get a hook",
  request: { params: IdParams },
  responses: {
    200: { ...hookJson("The hook, secrets masked"), headers: ETAG_HEADER },
    ...errors({
      400: "Invalid id",
      401: "Missing or wrong token",
      403: "The token lacks the admin scope",
      404: "No such hook",
    }),
  },
});

const replaceHook = createRoute({
  operationId: "replaceHook",
  method: "put",
  path: "/{id}",
  tags,
  ...requires("admin"),
  summary: "Replace a hook",
  description: `A GET body may be sent back: masked secrets keep their stored values. The type cannot change. ${IF_MATCH_DESCRIPTION}`,
  request: { params: IdParams, headers: IfMatchHeaders, body: hookBody },
  responses: {
    200: { ...hookJson("The hook"), headers: ETAG_HEADER },
    ...errors({
      400: "Invalid hook",
      401: "Missing or wrong token",
      403: "The token lacks the admin scope",
      404: "No such hook",
      412: "If-Match names another version than the stored one",
      413: "Body too large",
    }),
  },
});

const deleteHook = createRoute({
  operationId: "deleteHook",
  method: "delete",
  path: "/{id}",
  tags,
  ...requires("admin"),
  summary: "Delete a hook",
  description: IF_MATCH_DESCRIPTION,
  request: { params: IdParams, headers: IfMatchHeaders },
  responses: {
    204: { description: "Deleted" },
    ...errors({
      400: "Invalid id",
      401: "Missing or wrong token",
      403: "The token lacks the admin scope",
      404: "No such hook",
      412: "If-Match names another version than the stored one",
    }),
  },
});

const listDeliveries = createRoute({
  operationId: "listDeliveries",
  method: "get",
  path: "/{id}/deliveries",
  tags,
  ...requires("admin"),
  summary: "A hook's delivery log",
  request: { params: IdParams, query: DeliveriesQuery },
  responses: {
    200: {
      description: "Delivery records, oldest first",
      content: { "application/json": { schema: z.array(DeliverySchema) } },
    },
    ...errors({
      400: "Invalid id or query",
      401: "Missing or wrong token",
      403: "The token lacks the admin scope",
      404: "No such hook",
    }),
  },
});

const sendTestEvent = createRoute({
  operationId: "sendTestEvent",
  method: "post",
  path: "/{id}/test",
  tags,
  ...requires("admin"),
  summary: "Send a test event",
  responses: {
    202: {
      description: "The test event was enqueued",
      content: { "application/json": { schema: TestEventResultSchema } },
    },
    ...errors({
      400: "Invalid id",
      401: "Missing or wrong token",
      403: "The token lacks the admin scope",
      404: "No such hook",
    }),
  },
  request: { params: IdParams },
});

/**
 * Hooks API, routes relative to its mount point (`v1.route("/hooks", createHooksApi(...))`):
 * POST|GET /, GET|PUT|DELETE /{id}, GET /{id}/deliveries?limit=, POST /{id}/test. Secrets are
 * accepted, never returned (except a generated one, once, in the 201 of its creation) and never logged.
 */
export function createHooksApi(opts: HooksApiOptions): OpenAPIHono {
  const { hooks } = opts;
  const log = opts.log.child({ component: "hooks-api" });
  const maxBodyBytes = opts.maxBodyBytes ?? 65_536;
  const app = new OpenAPIHono({ defaultHook: validationFailed });
  app.onError((err, c) => errorResponse(c, err, log));
  app.openAPIRegistry.register("HookInput", HookInputSchema);
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer" });

  if (opts.auth) app.use("*", opts.auth);
  app.use(
    "*",
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

  app.openapi(createHook, async (c) => {
    const { hook, generatedSecret } = validateHook(await readJson(c), { mode: "create" });
    const record = await hooks.registry.create(hook);
    log.info({ hookId: hook.id, type: hook.type }, "hook created");
    // A generated secret is shown this once; afterwards only "whsec_***".
    return c.json({ ...publicHook(record), ...(generatedSecret ? { secret: generatedSecret } : {}) }, 201);
  });

  app.openapi(listHooks, async (c) => c.json((await hooks.registry.list()).map(publicHook), 200));

  app.openapi(getHook, async (c) => {
    const { id } = c.req.valid("param");
    const record = await hooks.registry.get(id);
    if (!record) throw new NotFoundError("hook", id);
    c.header("ETag", etagOf(record.revision));
    return c.json(publicHook(record), 200);
  });

  app.openapi(replaceHook, async (c) => {
    const { id } = c.req.valid("param");
    const body = await readJson(c);
    const existing = await hooks.registry.get(id);
    if (!existing) throw new NotFoundError("hook", id);
    const { hook, generatedSecret } = validateHook(body, { mode: "replace", id, existing: existing.hook });
    const record = await hooks.registry.replace(hook, writeCondition(c, "hook", id));
    log.info({ hookId: id, type: hook.type }, "hook replaced");
    c.header("ETag", etagOf(record.revision));
    return c.json({ ...publicHook(record), ...(generatedSecret ? { secret: generatedSecret } : {}) }, 200);
  });

  app.openapi(deleteHook, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await hooks.registry.delete(id, writeCondition(c, "hook", id)))) throw new NotFoundError("hook", id);
    log.info({ hookId: id }, "hook deleted");
    return c.body(null, 204);
  });

  app.openapi(listDeliveries, async (c) => {
    const { id } = c.req.valid("param");
    const { limit = 100 } = c.req.valid("query");
    if (!(await hooks.registry.get(id))) throw new NotFoundError("hook", id);
    return c.json(await hooks.deliveries.list(id, { limit }), 200);
  });

  app.openapi(sendTestEvent, async (c) => {
    const { id } = c.req.valid("param");
    const sent = await hooks.test(id);
    return c.json({ ...sent, status: "enqueued" as const }, 202);
  });

  return app;
}
