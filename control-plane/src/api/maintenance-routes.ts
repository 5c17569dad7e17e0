import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Logger } from "pino";
import { NotFoundError, ValidationError } from "../errors.js";
import { HOOK_ID_PATTERN } from "../hooks/hook-schema.js";
import type { MaintenanceRecord, MaintenanceRegistry } from "../maintenance/registry.js";
import { MaintenanceWindowBody, validateMaintenanceWindow } from "../maintenance/window-schema.js";
import { errorResponses } from "./error-schema.js";
import { ETAG_HEADER, etagOf, IF_MATCH_DESCRIPTION, IfMatchHeaders, writeCondition } from "./etag.js";
import { bodyReadByHandler, documenting, requires } from "./openapi.js";
import { readJson } from "./read-json.js";

/** Options of {@link createMaintenanceRoutes}. */
export interface MaintenanceRoutesOptions {
  maintenance: Pick<MaintenanceRegistry, "create" | "get" | "list" | "replace" | "delete">;
  /** Parent logger; the routes log as `component: "maintenance-api"`. */
  log: Logger;
}

const tags = ["maintenance"];
const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** A stored window as responses carry it. */
const MaintenanceWindowJson = documenting<unknown>(
  z
    .object({
      id: z.string(),
      checks: z.union([z.literal("*"), z.array(z.string())]).openapi({ description: "[] when `labels` selects" }),
      labels: z.record(z.string(), z.string()).optional(),
      from: z.int(),
      to: z.int(),
      repeat: z.object({ everyMs: z.int(), until: z.int().optional() }).optional(),
      description: z.string().optional(),
      createdAt: z.int().openapi({ description: "when it was created (epoch ms)" }),
    })
    .openapi("MaintenanceWindowRecord", {
      example: { id: "db-upgrade", checks: ["web"], from: 1767225600000, to: 1767229200000, createdAt: 1767220000000 },
    }),
);

const IdParams = z.object({
  id: z
    .string()
    .regex(HOOK_ID_PATTERN, { error: "must match [a-z0-9][a-z0-9_-]{0,62}" })
    .openapi({ param: { name: "id", in: "path", description: "window id" }, example: "db-upgrade" }),
});

const createWindow = createRoute({
  operationId: "createMaintenanceWindow",
  method: "post",
  path: "/",
  tags,
  summary: "Create a maintenance window",
  description:
    "Inside a window results are stored and shown, but incidents opened are not announced to hooks " +
    "(see control-plane/HOOKS.md) and availability reports the time as `maintenanceMs`.",
  ...requires("write"),
  request: { body: bodyReadByHandler("MaintenanceWindow", "The window") },
  responses: {
    201: {
      ...json(MaintenanceWindowJson, "Created; `Location` names it"),
      headers: { Location: { schema: { type: "string" } } },
    },
    ...errorResponses(400, 401, 403, 409, 413, 503),
  },
});

const listWindows = createRoute({
  operationId: "listMaintenanceWindows",
  method: "get",
  path: "/",
  tags,
  summary: "List maintenance windows",
  ...requires("read"),
  responses: {
    200: json(z.array(MaintenanceWindowJson), "Every window, sorted by id"),
    ...errorResponses(401, 403, 503),
  },
});

const getWindow = createRoute({
  operationId: "getMaintenanceWindow",
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a maintenance window",
  ...requires("read"),
  request: { params: IdParams },
  responses: {
    200: { ...json(MaintenanceWindowJson, "The window"), headers: ETAG_HEADER },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

const replaceWindow = createRoute({
  operationId: "replaceMaintenanceWindow",
  method: "put",
  path: "/{id}",
  tags,
  summary: "Replace a maintenance window",
  description: `A body id must match the path; \`createdAt\` (as a GET shows it) is ignored. ${IF_MATCH_DESCRIPTION}`,
  ...requires("write"),
  request: { params: IdParams, headers: IfMatchHeaders, body: bodyReadByHandler("MaintenanceWindow", "The window") },
  responses: {
    200: { ...json(MaintenanceWindowJson, "The new version"), headers: ETAG_HEADER },
    ...errorResponses(400, 401, 403, 404, 412, 413, 503),
  },
});

const deleteWindow = createRoute({
  operationId: "deleteMaintenanceWindow",
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a maintenance window",
  description: `Ends it now: an outage it held back that is still open is announced. ${IF_MATCH_DESCRIPTION}`,
  ...requires("write"),
  request: { params: IdParams, headers: IfMatchHeaders },
  responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404, 412, 503) },
});

function recordJson(r: MaintenanceRecord): unknown {
  return { ...r.window, createdAt: r.createdAt };
}

/**
 * Maintenance windows, mounted at /v1/maintenance: POST /, GET /, GET|PUT|DELETE /{id}. Guards (token
 * for writes, body limit) and error shaping come from the root.
 */
export function createMaintenanceRoutes(opts: MaintenanceRoutesOptions): OpenAPIHono {
  const { maintenance } = opts;
  const app = new OpenAPIHono();
  app.openAPIRegistry.register("MaintenanceWindow", MaintenanceWindowBody);

  app.openapi(createWindow, async (c) => {
    const record = await maintenance.create(validateMaintenanceWindow(await readJson(c)));
    c.header("Location", `/v1/maintenance/${record.window.id}`);
    return c.json(recordJson(record), 201);
  });

  app.openapi(listWindows, async (c) => c.json((await maintenance.list()).map(recordJson), 200));

  app.openapi(getWindow, async (c) => {
    const { id } = c.req.valid("param");
    const record = await maintenance.get(id);
    if (!record) throw new NotFoundError("maintenance window", id);
    c.header("ETag", etagOf(record.revision));
    return c.json(recordJson(record), 200);
  });

  app.openapi(replaceWindow, async (c) => {
    const { id } = c.req.valid("param");
    const body = await readJson(c);
    if (typeof body === "object" && body !== null && !Array.isArray(body)) {
      const { createdAt: _createdAt, ...rest } = body as Record<string, unknown>;
      if (rest.id !== undefined && rest.id !== id)
        throw new ValidationError(
          `invalid maintenance window: id: must match the id in the path (${JSON.stringify(id)})`,
          {
            field: "id",
            problems: [{ field: "id", message: `must match the id in the path (${JSON.stringify(id)})` }],
          },
        );
      const record = await maintenance.replace(
        validateMaintenanceWindow({ ...rest, id }),
        writeCondition(c, "maintenance window", id),
      );
      c.header("ETag", etagOf(record.revision));
      return c.json(recordJson(record), 200);
    }
    validateMaintenanceWindow(body);
    throw new ValidationError("invalid maintenance window: must be a JSON object");
  });

  app.openapi(deleteWindow, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await maintenance.delete(id, writeCondition(c, "maintenance window", id))))
      throw new NotFoundError("maintenance window", id);
    return c.body(null, 204);
  });

  return app;
}
