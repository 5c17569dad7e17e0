import type { MiddlewareHandler } from "hono";
import type { Logger } from "pino";

/**
 * Logs one line per request: method, path, status and duration. Never headers (the Authorization
 * header holds the API token) and never bodies (checks may hold secrets).
 */
export function requestLog(log: Logger): MiddlewareHandler {
  return async function requestLogMiddleware(c, next) {
    const start = performance.now();
    await next();
    const ms = Math.round((performance.now() - start) * 10) / 10;
    log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms }, "request");
  };
}
