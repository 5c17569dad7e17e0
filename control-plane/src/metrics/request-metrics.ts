import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";

/** What {@link requestMetrics} reports each answered request to. */
export interface RequestObserver {
  onRequest(r: { method: string; route: string; status: number; seconds: number }): void;
}

/**
 * Counts and times every API request by its route pattern (`/v1/checks/:id`, never the concrete
 * path, so the series stay bounded); a request no route matched is `unmatched`.
 */
export function requestMetrics(observer: RequestObserver): MiddlewareHandler {
  return async function requestMetricsMiddleware(c, next) {
    const start = performance.now();
    try {
      await next();
    } finally {
      // Middleware are registered for ALL methods; the last other match is the route that answered.
      const route = matchedRoutes(c)
        .filter((r) => r.method !== "ALL")
        .at(-1)?.path;
      observer.onRequest({
        method: c.req.method,
        route: route ?? "unmatched",
        status: c.res.status,
        seconds: (performance.now() - start) / 1000,
      });
    }
  };
}
