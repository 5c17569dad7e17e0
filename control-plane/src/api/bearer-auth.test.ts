import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { ForbiddenError, ProbemeshError, UnauthorizedError } from "../errors.js";
import { bearerAuth, requireScope, tokenAuthenticator, type BearerAuthOptions, type Scope } from "./bearer-auth.js";

const BOOTSTRAP = "bearer-auth-test-token";
const TOKENS: Record<string, { id: string; scopes: Scope[] }> = {
  pmt_reader: { id: "r", scopes: ["read"] },
  pmt_writer: { id: "w", scopes: ["write"] },
  pmt_admin: { id: "a", scopes: ["admin"] },
};

function app(opts: Partial<BearerAuthOptions> = {}) {
  const rejected: string[] = [];
  const a = new Hono();
  a.onError((err, c) =>
    c.json(
      { code: err instanceof ProbemeshError ? err.code : "other" },
      err instanceof ForbiddenError ? 403 : err instanceof UnauthorizedError ? 401 : 500,
    ),
  );
  a.use(
    "*",
    bearerAuth({
      authenticate: tokenAuthenticator(BOOTSTRAP, (t) => TOKENS[t]),
      onReject: (c) => rejected.push(c.req.method),
      ...opts,
    }),
  );
  for (const scope of ["read", "write", "admin"] as const) a.all(`/${scope}`, requireScope(scope), (c) => c.text("ok"));
  a.get("/open", (c) => c.text("ok"));
  return { a, rejected };
}

const status = async (a: Hono, path: string, authorization?: string, method = "GET") =>
  (await a.request(path, { method, headers: authorization ? { authorization } : {} })).status;

describe("bearerAuth + requireScope", () => {
  it("refuses a missing or unknown token with 401 and counts it", async () => {
    const { a, rejected } = app();
    expect(await status(a, "/read")).toBe(401);
    expect(await status(a, "/read", "Bearer wrong")).toBe(401);
    expect(await status(a, "/read", BOOTSTRAP)).toBe(401);
    expect(await status(a, "/read", "Bearer ")).toBe(401);
    expect(rejected).toHaveLength(4);
  });

  it("grants the bootstrap token every scope", async () => {
    const { a } = app();
    for (const s of ["read", "write", "admin"]) expect(await status(a, `/${s}`, `Bearer ${BOOTSTRAP}`)).toBe(200);
  });

  it("admin implies write implies read; a missing scope is 403", async () => {
    const { a } = app();
    const expected: Record<string, Record<string, number>> = {
      pmt_reader: { read: 200, write: 403, admin: 403 },
      pmt_writer: { read: 200, write: 200, admin: 403 },
      pmt_admin: { read: 200, write: 200, admin: 200 },
    };
    for (const [token, byScope] of Object.entries(expected))
      for (const [scope, want] of Object.entries(byScope))
        expect(await status(a, `/${scope}`, `Bearer ${token}`), `${token} on ${scope}`).toBe(want);
  });

  it("anonymous requests pass only where allowed, and a presented token is checked even there", async () => {
    const { a } = app({ anonymous: (c) => c.req.path === "/open" });
    expect(await status(a, "/open")).toBe(200);
    expect(await status(a, "/open", "Bearer wrong")).toBe(401);
    expect(await status(a, "/read")).toBe(401);
  });

  it("an empty bootstrap token accepts no credentials", async () => {
    const a = new Hono();
    a.onError((_err, c) => c.text("no", 401));
    a.use("*", bearerAuth({ authenticate: tokenAuthenticator("") }));
    a.get("/x", (c) => c.text("ok"));
    expect(await status(a, "/x", "Bearer ")).toBe(401);
    expect(await status(a, "/x", "Bearer x")).toBe(401);
  });
});
