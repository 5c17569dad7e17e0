import type { MiddlewareHandler } from "hono";
import { bearerMatches } from "../bearer-token.js";
import { UnauthorizedError } from "../errors.js";

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Bearer-token guard: writes (POST, PUT, DELETE, ...) need the API token; reads are open, but a
 * read that presents an Authorization header must present the right token. `onReject` counts.
 */
export function requireToken(token: string, onReject: () => void = () => {}): MiddlewareHandler {
  return async function requireTokenMiddleware(c, next) {
    const header = c.req.header("authorization");
    if (header !== undefined || !READ_METHODS.has(c.req.method)) {
      if (!bearerMatches(header, token)) {
        onReject();
        throw new UnauthorizedError();
      }
    }
    await next();
  };
}
