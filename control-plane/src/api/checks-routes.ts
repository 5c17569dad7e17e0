import type { JsonObject } from "@bufbuild/protobuf";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Logger } from "pino";
import type { AgentDirectory } from "../agents/types.js";
import { checkToJson, restoreMaskedSecrets, type CheckRecord } from "../checks/check-record.js";
import { CheckBody, CheckReplaceBody, CheckWarningSchema } from "../checks/check-schema.js";
import { regionWarnings, type CheckWarning } from "../checks/region-warnings.js";
import { validateCheck } from "../checks/validate-check.js";
import { NotFoundError, UnavailableError, ValidationError } from "../errors.js";
import type { CheckRegistry } from "../registry/types.js";
import { rowUidsOf } from "../store/row-uids.js";
import type { ResultStore } from "../store/types.js";
import { CheckIdParams } from "./check-id-param.js";
import { ETAG_HEADER, etagOf, IF_MATCH_DESCRIPTION, IfMatchHeaders, writeCondition } from "./etag.js";
import { errorResponses } from "./error-schema.js";
import { bodyReadByHandler, documenting, requires } from "./openapi.js";
import { maskUrlQuery } from "../trust/url-query.js";
import { readJson } from "./read-json.js";
import { resultsQuery, ResultSchema } from "./results-query.js";

/** Options of {@link createChecksRoutes}. */
export interface ChecksRoutesOptions {
  registry: CheckRegistry;
  store: ResultStore;
  /** The agents the mesh knows: a written check's regions and quorum are compared with them (`warnings`). */
  agents: Pick<AgentDirectory, "list">;
  /** Parent logger; the routes log as `component: "checks-api"`. */
  log: Logger;
  /** @default Date.now */
  now?: () => number;
}

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
const tags = ["checks"];
/** A check as responses carry it: the API form (secrets masked), as `checkToJson` builds it. */
const CheckJson = documenting<JsonObject>(CheckBody);

const createCheck = createRoute({
  operationId: "createCheck",
  method: "post",
  path: "/",
  tags,
  summary: "Create a check",
  ...requires("write"),
  request: { body: bodyReadByHandler("Check", "The check; defaults are filled in (interval, timeout, thresholds...)") },
  responses: {
    201: {
      ...json(CheckJson, "Created; `Location` names it; `warnings` when the mesh cannot run it as written"),
      headers: { Location: { schema: { type: "string" } } },
    },
    ...errorResponses(400, 401, 403, 409, 413, 503),
  },
});

const listChecks = createRoute({
  operationId: "listChecks",
  method: "get",
  path: "/",
  tags,
  summary: "List checks",
  ...requires("read"),
  responses: { 200: json(z.array(CheckJson), "Every check, secrets masked"), ...errorResponses(401, 403, 503) },
});

const getCheck = createRoute({
  operationId: "getCheck",
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get a check",
  ...requires("read"),
  request: { params: CheckIdParams },
  responses: {
    200: { ...json(CheckJson, "The check, secrets masked"), headers: ETAG_HEADER },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

const replaceCheck = createRoute({
  operationId: "replaceCheck",
  method: "put",
  path: "/{id}",
  tags,
  summary: "Replace a check",
  description:
    "Secrets sent back masked (`***`, as a GET shows them) keep their stored values. " +
    "The type and the uid cannot change (400 naming `type` or `uid`): delete and create the check instead. " +
    IF_MATCH_DESCRIPTION,
  ...requires("write"),
  request: {
    params: CheckIdParams,
    headers: IfMatchHeaders,
    body: bodyReadByHandler("CheckReplace", "The check; a body id must match the path"),
  },
  responses: {
    200: {
      ...json(CheckJson, "The new version; `warnings` when the mesh cannot run it as written"),
      headers: ETAG_HEADER,
    },
    ...errorResponses(400, 401, 403, 404, 412, 413, 503),
  },
});

const deleteCheck = createRoute({
  operationId: "deleteCheck",
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Delete a check",
  description: IF_MATCH_DESCRIPTION,
  ...requires("write"),
  request: { params: CheckIdParams, headers: IfMatchHeaders },
  responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404, 412, 503) },
});

/**
 * Checks CRUD and results, mounted at /v1/checks: POST /, GET /, GET|PUT|DELETE /{id},
 * GET /{id}/results. Guards (token, body limit) and error shaping come from the root.
 */
export function createChecksRoutes(opts: ChecksRoutesOptions): OpenAPIHono {
  const { registry, store, agents } = opts;
  const log = opts.log.child({ component: "checks-api" });
  const now = opts.now ?? Date.now;
  const app = new OpenAPIHono();
  app.openAPIRegistry.register("CheckReplace", CheckReplaceBody);
  app.openAPIRegistry.register("CheckWarning", CheckWarningSchema);

  /** The API JSON of a written check, with the warnings of its regions and quorum when there are any. */
  async function written(record: CheckRecord): Promise<JsonObject> {
    let list: CheckWarning[];
    try {
      list = regionWarnings(record.check, await agents.list());
    } catch (err) {
      log.warn({ err, checkId: record.check.id }, "check written; its regions were not compared with agents");
      // Advisory only: the write succeeded, so say what could not be checked rather than fail it.
      list = [{ field: "regions", message: "not compared with registered agents: the agent directory is unavailable" }];
    }
    const json = checkToJson(record);
    return list.length > 0 ? { ...json, warnings: list.map((w) => ({ field: w.field, message: w.message })) } : json;
  }

  /** The `dependsOn` of every stored check, to validate a written one's. */
  async function dependencies(): Promise<Map<string, readonly string[]>> {
    return new Map((await registry.list()).map((r) => [r.check.id, r.check.dependsOn]));
  }

  app.openapi(createCheck, async (c) => {
    const body = await readJson(c);
    const check = validateCheck(body, { mode: "create", dependencies: await dependencies() });
    const record = await registry.create(check);
    c.header("Location", `/v1/checks/${record.check.id}`);
    return c.json(await written(record), 201);
  });

  app.openapi(listChecks, async (c) => c.json((await registry.list()).map(checkToJson), 200));

  app.openapi(getCheck, async (c) => {
    const { id } = c.req.valid("param");
    const record = await registry.get(id);
    if (!record) throw new NotFoundError("check", id);
    c.header("ETag", etagOf(record.revision));
    return c.json(checkToJson(record), 200);
  });

  app.openapi(replaceCheck, async (c) => {
    const { id } = c.req.valid("param");
    const body = await readJson(c);
    const existing = await registry.get(id);
    // Validated before the 404, so that a bad body is named even for an unknown id.
    const next = validateCheck(body, {
      mode: "replace",
      id,
      existing: existing?.check,
      dependencies: await dependencies(),
    });
    if (!existing) throw new NotFoundError("check", id);
    const record = await registry.replace(restoreMaskedSecrets(next, existing.check), writeCondition(c, "check", id));
    c.header("ETag", etagOf(record.revision));
    return c.json(await written(record), 200);
  });

  app.openapi(deleteCheck, async (c) => {
    const { id } = c.req.valid("param");
    await registry.delete(id, writeCondition(c, "check", id));
    return c.body(null, 204);
  });

  const listResults = createRoute({
    operationId: "listResults",
    method: "get",
    path: "/{id}/results",
    tags,
    summary: "Results of a check",
    description: "Newest first; `to` exclusive. Duplicates (same id) are returned once.",
    ...requires("read"),
    request: { params: CheckIdParams, query: resultsQuery(now) },
    responses: {
      200: json(z.array(ResultSchema), "Results, newest first"),
      ...errorResponses(400, 401, 403, 404, 503),
    },
  });

  app.openapi(listResults, async (c) => {
    const { id } = c.req.valid("param");
    const record = await registry.get(id);
    if (!record) throw new NotFoundError("check", id);
    // A check id re-created after a deletion starts clean: results from before it existed are not its own
    // (those stored before uids are, when this check was stored before uids).
    const asked = c.req.valid("query");
    const query = {
      checkId: id,
      checkUids: rowUidsOf(id, record.check.uid, record.createdAt),
      ...asked,
      from: Math.min(Math.max(asked.from, record.createdAt), asked.to),
    };
    try {
      // Rows stored before ingest masked them may still carry query values.
      const rows = await store.queryResults(query);
      return c.json(
        rows.map((r) => ({ ...r, target: maskUrlQuery(r.target), checkUid: r.checkUid ?? "" })),
        200,
      );
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      // The cause (with ClickHouse's address and error) goes to the log, not to API clients.
      throw new UnavailableError("result store unavailable; try again later", { cause: err });
    }
  });

  return app;
}
