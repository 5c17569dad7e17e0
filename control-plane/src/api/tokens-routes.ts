import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Logger } from "pino";
import { NotFoundError } from "../errors.js";
import { parseOrThrow } from "../schemas/issues.js";
import { SCOPES, validateApiTokenRequest, type ApiTokens, type Scope } from "../trust/api-tokens.js";
import { errorResponses } from "./error-schema.js";
import { bodyReadByHandler, requires } from "./openapi.js";
import { readJson } from "./read-json.js";

/** Options of {@link createTokensRoutes}. */
export interface TokensRoutesOptions {
  tokens: ApiTokens;
  log: Logger;
}

/** The body of POST /v1/tokens. */
export const ApiTokenBody = z
  .strictObject({
    name: z.string().openapi({ description: "what it is for, 1-100 printable ASCII characters", example: "grafana" }),
    scopes: z
      .array(z.enum(SCOPES as [Scope, ...Scope[]]))
      .min(1)
      .openapi({ description: "admin implies write, write implies read", example: ["read"] }),
  })
  .openapi("ApiTokenRequest");

/** An API token as listed: never the token itself. */
export const ApiTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(SCOPES as [Scope, ...Scope[]])),
    createdAt: z.int().openapi({ description: "epoch ms" }),
  })
  .openapi("ApiToken", {
    example: { id: "4f1c2a9d7e3b8a60", name: "grafana", scopes: ["read"], createdAt: 1767225600000 },
  });

const IssuedSchema = ApiTokenSchema.extend({
  token: z.string().openapi({
    description: "the bearer token; shown only in this answer (only a hash is stored)",
    example: "pmt_Xq9v3Lk2mB7nT0cW5rY8zA1sD4fG6hJ-uE_oPiQwRt0",
  }),
}).openapi("ApiTokenIssued");

const IdParams = z.object({
  id: z
    .string()
    .regex(/^[0-9a-f]{16}$/, { error: "must be 16 hex digits" })
    .openapi({ param: { name: "id", in: "path", description: "token id" }, example: "4f1c2a9d7e3b8a60" }),
});

const tags = ["tokens"];
const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const createToken = createRoute({
  operationId: "createApiToken",
  method: "post",
  path: "/",
  tags,
  summary: "Create an API token",
  ...requires("admin"),
  request: { body: bodyReadByHandler("ApiTokenRequest", "Name and scopes") },
  responses: {
    201: json(IssuedSchema, "Created; the token is in this answer only"),
    ...errorResponses(400, 401, 403, 413, 503),
  },
});

const listTokens = createRoute({
  operationId: "listApiTokens",
  method: "get",
  path: "/",
  tags,
  summary: "List API tokens",
  ...requires("admin"),
  responses: { 200: json(z.array(ApiTokenSchema), "Every token, oldest first"), ...errorResponses(401, 403, 503) },
});

const getToken = createRoute({
  operationId: "getApiToken",
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get an API token",
  ...requires("admin"),
  request: { params: IdParams },
  responses: { 200: json(ApiTokenSchema, "The token"), ...errorResponses(400, 401, 403, 404, 503) },
});

const revokeToken = createRoute({
  operationId: "revokeApiToken",
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Revoke an API token",
  description: "It stops working on every replica as soon as their copy of the token store has the change.",
  ...requires("admin"),
  request: { params: IdParams },
  responses: { 204: { description: "Revoked" }, ...errorResponses(400, 401, 403, 404, 503) },
});

/**
 * API tokens, mounted at /v1/tokens: POST /, GET /, GET|DELETE /{id}. Admin only. PROBEMESH_API_TOKEN
 * is not among them: it is the bootstrap admin token, changed by restarting with another value.
 */
export function createTokensRoutes(opts: TokensRoutesOptions): OpenAPIHono {
  const { tokens } = opts;
  const log = opts.log.child({ component: "tokens-api" });
  const app = new OpenAPIHono();
  app.openAPIRegistry.register("ApiTokenRequest", ApiTokenBody);

  app.openapi(createToken, async (c) => {
    const body = parseOrThrow(ApiTokenBody, await readJson(c), "API token");
    validateApiTokenRequest(body);
    const { info, token } = await tokens.create(body);
    const by = c.get("probemeshPrincipal")?.tokenId;
    log.info({ tokenId: info.id, name: info.name, scopes: info.scopes, by }, "API token created");
    c.header("Location", `/v1/tokens/${info.id}`);
    return c.json({ ...info, token }, 201);
  });

  app.openapi(listTokens, (c) => c.json(tokens.list(), 200));

  app.openapi(getToken, (c) => {
    const { id } = c.req.valid("param");
    const info = tokens.get(id);
    if (!info) throw new NotFoundError("API token", id);
    return c.json(info, 200);
  });

  app.openapi(revokeToken, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await tokens.revoke(id))) throw new NotFoundError("API token", id);
    log.info({ tokenId: id, by: c.get("probemeshPrincipal")?.tokenId }, "API token revoked");
    return c.body(null, 204);
  });

  return app;
}
