import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { PreconditionFailedError, type WriteCondition } from "../errors.js";

/** The `ETag` of a stored object: its registry (NATS KV) revision, as a strong entity tag. */
export function etagOf(revision: number): string {
  return `"${revision}"`;
}

/** OpenAPI `ETag` response header of a GET of a check, hook or maintenance window. */
export const ETAG_HEADER = {
  ETag: {
    schema: { type: "string" as const },
    description: 'The stored version (`"12"`); send it back in `If-Match` to change it only if nobody else has',
  },
};

/** OpenAPI description of the `If-Match` request header of PUT and DELETE. */
export const IF_MATCH_DESCRIPTION =
  'Optional `If-Match: "<etag>"` (from a GET): the write happens only if the object is still at that version, ' +
  "else 412 (`failed_precondition`, `details.etag` the current one). Two writers holding the same ETag cannot both win. `*` = any version.";

/**
 * The write condition of a request's `If-Match` header: absent or `*` = none. A header naming no
 * version this API gives (one ETag, `"<digits>"`, optionally weak) fails as a mismatch.
 */
export function writeCondition(c: Context, kind: string, id: string): WriteCondition {
  const header = c.req.header("if-match")?.trim();
  if (header === undefined || header === "" || header === "*") return {};
  const m = /^(?:W\/)?"([0-9]{1,15})"$/.exec(header);
  if (!m) throw new PreconditionFailedError(kind, id, undefined);
  return { ifRevision: Number(m[1]) };
}

/** The `If-Match` request header of PUT and DELETE, for the OpenAPI document (read by {@link writeCondition}). */
export const IfMatchHeaders = z.object({
  "if-match": z
    .string()
    .optional()
    .openapi({ param: { in: "header", description: IF_MATCH_DESCRIPTION }, example: '"12"' }),
});
