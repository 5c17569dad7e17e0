import type { Hook } from "@hono/zod-openapi";
import type { Env } from "hono";
import { validationErrorOf } from "../schemas/issues.js";

const WHAT: Record<string, string> = { query: "query", param: "path", json: "body", header: "headers" };

/**
 * The `defaultHook` of every OpenAPIHono app: a failed validation of the path, query or body
 * becomes the ValidationError the root `onError` shapes into a 400 listing every problem.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one hook for every route's schema
export const validationHook: Hook<any, Env, string, unknown> = (result) => {
  if (!result.success) throw validationErrorOf(result.error, undefined, WHAT[result.target] ?? result.target);
};
