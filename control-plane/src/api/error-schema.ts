import { z } from "@hono/zod-openapi";

/** The JSON body of every API error, as the one root `onError` shapes it. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z
        .enum([
          "invalid_argument",
          "unauthenticated",
          "permission_denied",
          "not_found",
          "method_not_allowed",
          "conflict",
          "failed_precondition",
          "payload_too_large",
          "unavailable",
          "internal",
        ])
        .openapi({ description: "stable machine code; the HTTP status follows from it" }),
      message: z.string(),
      details: z
        .object({
          field: z.string().optional().openapi({ description: "the first bad field (`http.url`, `expectStatus[0]`)" }),
          problems: z
            .array(z.object({ field: z.string(), message: z.string() }))
            .optional()
            .openapi({ description: "every problem of the input at once" }),
        })
        .catchall(z.unknown())
        .optional(),
    }),
  })
  .openapi("Error", {
    example: {
      error: {
        code: "invalid_argument",
        message: "invalid check: http.url: must be an absolute http or https URL (and 1 more problem)",
        details: {
          field: "http.url",
          problems: [
            { field: "http.url", message: "must be an absolute http or https URL" },
            {
              field: "http.expectStatus[0]",
              message: 'must be a status code between 100 and 599 or a class "1xx".."5xx"',
            },
          ],
        },
      },
    },
  });

const WHY: Record<number, string> = {
  400: "Invalid input: every problem listed in `details.problems`",
  401: "Missing or wrong bearer token",
  403: "The token lacks the scope this route needs",
  404: "No such check",
  409: "A check with this id exists",
  412: "`If-Match` names a version that is no longer the stored one (someone changed it since it was read); `details.etag` is the current one",
  413: "Request body too large",
  503: "A dependency (NATS, ClickHouse) is unavailable; try again later",
};

/** OpenAPI responses for the given error statuses, each with the {@link ErrorSchema} body. */
export function errorResponses<S extends keyof typeof WHY & number>(
  ...statuses: S[]
): Record<S, { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }> {
  const out = {} as Record<S, { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }>;
  for (const s of statuses)
    out[s] = { description: WHY[s] ?? "Error", content: { "application/json": { schema: ErrorSchema } } };
  return out;
}
