import type { OpenAPIHono, z } from "@hono/zod-openapi";

/** A security requirement: scheme name to scopes. */
type SecurityRequirement = Record<string, string[]>;

/** Name of the bearer security scheme in `components.securitySchemes`. */
export const BEARER_SCHEME = "bearerAuth";

/** Security of routes that need the API token (writes, hooks). */
export const TOKEN_REQUIRED: SecurityRequirement[] = [{ [BEARER_SCHEME]: [] }];

/** Security of reads: open without credentials, but a presented token must be valid. */
export const TOKEN_OPTIONAL: SecurityRequirement[] = [{}, { [BEARER_SCHEME]: [] }];

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
    description: "The control plane's API token (PROBEMESH_API_TOKEN). Reads are open unless a token is presented.",
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
      { name: "agents", description: "Probe agents" },
      { name: "maintenance", description: "Maintenance windows: incidents inside them are not announced to hooks" },
      { name: "health", description: "Liveness, readiness and this document" },
    ],
  });
}
