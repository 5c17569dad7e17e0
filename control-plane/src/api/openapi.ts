import type { OpenAPIHono, z } from "@hono/zod-openapi";
import { requireScope, type Scope } from "./bearer-auth.js";

/** A security requirement: scheme name to scopes. */
type SecurityRequirement = Record<string, string[]>;

/** Name of the bearer security scheme in `components.securitySchemes`. */
export const BEARER_SCHEME = "bearerAuth";

/** The OpenAPI extension naming the one scope an operation needs. */
export const SCOPE_EXTENSION = "x-probemesh-scope";

/**
 * What a route needs, spread into its `createRoute({...})`: documented (security scopes and
 * {@link SCOPE_EXTENSION}) and enforced (the route's {@link requireScope} middleware) from this one
 * declaration. Reads need "read", writes "write"; tokens, hooks and agents' writes "admin".
 */
export function requires(scope: Scope) {
  return {
    security: [{ [BEARER_SCHEME]: [scope] }] as SecurityRequirement[],
    [SCOPE_EXTENSION]: scope,
    middleware: [requireScope(scope)],
  };
}

/** Security of a route served without a token (health, this document, the public status). */
export const NO_TOKEN: SecurityRequirement[] = [];

/**
 * `schema` as the documentation of a response whose JSON a function builds (`checkToJson`,
 * `statusJson`): typed as that JSON, since the handler, not the schema, shapes the response.
 */
export function documenting<T>(schema: z.ZodType): z.ZodType<T> {
  return schema as unknown as z.ZodType<T>;
}

/**
 * A JSON request body documented by the registered schema `name`, but read and validated by the
 * handler itself: any content type is accepted (as with `curl -d`), empty and malformed JSON get the
 * API's own `field: "body"` errors, and problems of the path and the body come in one list.
 * (A zod schema here would make @hono/zod-openapi validate it and refuse other content types.)
 */
export function bodyReadByHandler(name: string, description: string) {
  return {
    required: true,
    description,
    content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } },
  };
}

/** An OpenAPI 3.1 document. */
export type OpenApiDocument = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;

/** Options of {@link openApiDocument}. */
export interface OpenApiDocumentOptions {
  /** The API version shown in `info.version`. @default "1" */
  version?: string;
}

/**
 * The OpenAPI 3.1 document of every route registered on `app` (sub-apps included once mounted),
 * with the bearer security scheme.
 */
export function openApiDocument(app: OpenAPIHono, opts: OpenApiDocumentOptions = {}): OpenApiDocument {
  app.openAPIRegistry.registerComponent("securitySchemes", BEARER_SCHEME, {
    type: "http",
    scheme: "bearer",
    description:
      "PROBEMESH_API_TOKEN (every scope) or a token from POST /v1/tokens. Scopes: read (GETs, agents included), write (other methods), admin (tokens, hooks, enrolling and revoking agents; implies write, which implies read).",
  });
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "probemesh control plane",
      version: opts.version ?? "1",
      description:
        "Checks, their results, agents, cross-region consensus (status, outages, availability, replay) failover hooks and maintenance windows. " +
        "Times are epoch milliseconds. Errors are `{ error: { code, message, details } }`.",
    },
    servers: [{ url: "http://127.0.0.1:8080", description: "PROBEMESH_HTTP_ADDR" }],
    tags: [
      { name: "checks", description: "Check definitions and their results" },
      { name: "consensus", description: "What the regions agree on" },
      { name: "agents", description: "Probe agents: enrollment and presence" },
      { name: "tokens", description: "API tokens and their scopes" },
      { name: "public", description: "Served without a token when PROBEMESH_PUBLIC_STATUS=true" },
      { name: "maintenance", description: "Maintenance windows: incidents inside them are not announced to hooks" },
      { name: "health", description: "Liveness, readiness and this document" },
    ],
  });
}
