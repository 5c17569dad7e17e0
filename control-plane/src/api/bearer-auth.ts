import type { Context, MiddlewareHandler } from "hono";
import { bearerMatches } from "../bearer-token.js";
import { UnauthorizedError } from "../errors.js";

/**
 * What a request may do. Today the one API token grants every scope; the options are shaped for
 * tokens that grant some (read-only dashboards, write-only CI, admin for hooks).
 */
export type Scope = "read" | "write" | "admin";

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Reads (GET, HEAD, OPTIONS) need "read", every other method "write". */
export function scopeOfMethod(c: Context): Scope {
  return READ_METHODS.has(c.req.method) ? "read" : "write";
}

/** Options of {@link bearerAuth}. */
export interface BearerAuthOptions {
  /** The API token (`Authorization: Bearer <token>`); it grants every scope. "" rejects every credential. */
  token: string;
  /** The scope a request needs. @default scopeOfMethod (reads "read", writes "write") */
  scope?: (c: Context) => Scope;
  /**
   * Scopes served without credentials. A request that presents an Authorization header must present
   * a valid token all the same, so a wrong token never passes silently. @default ["read"]
   */
  anonymous?: readonly Scope[];
  /** Called for every rejected request, e.g. to count it. @default does nothing */
  onReject?: (c: Context) => void;
}

/**
 * Bearer-token guard: a request whose scope is not anonymous, or that presents an Authorization
 * header, must present the token; otherwise it is rejected with an UnauthorizedError (401).
 */
export function bearerAuth(opts: BearerAuthOptions): MiddlewareHandler {
  const scopeOf = opts.scope ?? scopeOfMethod;
  const anonymous = new Set<Scope>(opts.anonymous ?? ["read"]);
  return async function bearerAuthMiddleware(c, next) {
    const header = c.req.header("authorization");
    if (header !== undefined || !anonymous.has(scopeOf(c))) {
      if (!bearerMatches(header, opts.token)) {
        opts.onReject?.(c);
        throw new UnauthorizedError();
      }
    }
    await next();
  };
}
