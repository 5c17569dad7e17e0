import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "pino";
import { ProbemeshError } from "../errors.js";

/** The JSON body of every API error. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const STATUS_OF_CODE: Record<string, ContentfulStatusCode> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  failed_precondition: 412,
  payload_too_large: 413,
  unavailable: 503,
};

const CODE_OF_STATUS: Record<number, string> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  412: "failed_precondition",
  413: "payload_too_large",
  503: "unavailable",
};

/**
 * The one place errors become HTTP responses: `{ "error": { code, message, details } }` with the
 * status of the error's code. Unexpected errors become a 500 whose message reveals nothing internal.
 */
export function errorResponse(c: Context, err: unknown, log: Logger): Response {
  let status: ContentfulStatusCode;
  let body: ErrorBody;
  if (err instanceof ProbemeshError) {
    status = STATUS_OF_CODE[err.code] ?? 500;
    body = { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } };
  } else if (err instanceof HTTPException) {
    status = err.status as ContentfulStatusCode;
    body = { error: { code: CODE_OF_STATUS[status] ?? "internal", message: err.message || "request failed" } };
  } else {
    status = 500;
    body = { error: { code: "internal", message: "internal error" } };
  }
  if (status === 503) log.warn({ err, method: c.req.method, path: c.req.path }, "dependency unavailable");
  else if (status >= 500) {
    log.error({ err, method: c.req.method, path: c.req.path }, "request failed");
    if (err instanceof ProbemeshError) body = { error: { code: "internal", message: "internal error" } };
  }
  if (status === 401) c.header("WWW-Authenticate", 'Bearer realm="probemesh"');
  return c.json(body, status);
}

/** The body of every API error, for the OpenAPI document. */
export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_argument" }),
      message: z.string(),
      details: z
        .record(z.string(), z.unknown())
        .optional()
        .openapi({ description: "For invalid_argument: `field` (the first bad one) and `problems` (every one)." }),
    }),
  })
  .openapi("Error", {
    example: {
      error: {
        code: "invalid_argument",
        message: "invalid hook: url: is required",
        details: { field: "url", problems: [{ field: "url", message: "is required" }] },
      },
    },
  });
