import type { Context, MiddlewareHandler } from "hono";
import { bearerMatches } from "../bearer-token.js";
import { ForbiddenError, UnauthorizedError } from "../errors.js";
import { grantedScopes, type Scope } from "../trust/api-tokens.js";
import { bearerToken } from "../trust/token.js";

export type { Scope } from "../trust/api-tokens.js";

/** Who made a request, as its bearer token says. */
export interface Principal {
  /** "bootstrap" for PROBEMESH_API_TOKEN, else the API token's id. */
  tokenId: string;
  scopes: ReadonlySet<Scope>;
}

declare module "hono" {
  interface ContextVariableMap {
    probemeshPrincipal: Principal;
  }
}

/** The principal of PROBEMESH_API_TOKEN: every scope. */
export const BOOTSTRAP_PRINCIPAL: Principal = { tokenId: "bootstrap", scopes: grantedScopes(["admin"]) };

/**
 * Resolves a bearer token: `bootstrapToken` (compared in constant time) is admin; anything else is
 * looked up with `lookup` (an API token store, by hash). Undefined when the token grants nothing.
 */
export function tokenAuthenticator(
  bootstrapToken: string,
  lookup: (token: string) => { id: string; scopes: readonly Scope[] } | undefined = () => undefined,
): (token: string) => Principal | undefined {
  return (token) => {
    if (bearerMatches(`Bearer ${token}`, bootstrapToken)) return BOOTSTRAP_PRINCIPAL;
    const t = lookup(token);
    return t && { tokenId: t.id, scopes: grantedScopes(t.scopes) };
  };
}

/** Options of {@link bearerAuth}. */
export interface BearerAuthOptions {
  /** What a presented token grants; undefined rejects it (401). */
  authenticate: (token: string) => Principal | undefined;
  /**
   * Requests served without a token. One that presents an Authorization header must present a valid
   * token all the same, so a wrong token never passes silently. @default none
   */
  anonymous?: (c: Context) => boolean;
  /**
   * Requests that may carry their token as `?token=` instead of the Authorization header (EventSource
   * cannot send headers); the request log never logs query strings. @default none
   */
  queryToken?: (c: Context) => boolean;
  /** Called for every request rejected with 401, e.g. to count it. @default does nothing */
  onReject?: (c: Context) => void;
}

/**
 * Bearer-token guard: resolves `Authorization: Bearer <token>` to a {@link Principal} for
 * {@link requireScope}; a missing token (unless anonymous) or one that grants nothing is an
 * UnauthorizedError (401).
 */
export function bearerAuth(opts: BearerAuthOptions): MiddlewareHandler {
  return async function bearerAuthMiddleware(c, next) {
    const header = c.req.header("authorization");
    if (header === undefined && opts.anonymous?.(c)) {
      await next();
      return;
    }
    const token =
      header === undefined && opts.queryToken?.(c) ? c.req.query("token") || undefined : bearerToken(header);
    const principal = token === undefined ? undefined : opts.authenticate(token);
    if (!principal) {
      opts.onReject?.(c);
      throw new UnauthorizedError();
    }
    c.set("probemeshPrincipal", principal);
    await next();
  };
}

/**
 * Route guard: the request's principal (set by {@link bearerAuth}) must hold `scope`; none is 401,
 * one without the scope 403 (ForbiddenError).
 */
export function requireScope(scope: Scope, onForbidden?: (c: Context) => void): MiddlewareHandler {
  return async function requireScopeMiddleware(c, next) {
    const principal = c.get("probemeshPrincipal") as Principal | undefined;
    if (!principal) throw new UnauthorizedError();
    if (!principal.scopes.has(scope)) {
      onForbidden?.(c);
      throw new ForbiddenError(`this token lacks the "${scope}" scope`, { scope });
    }
    await next();
  };
}
