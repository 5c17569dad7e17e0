import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { UnauthorizedError } from "../errors.js";
import { bearerAuth, type BearerAuthOptions } from "./bearer-auth.js";

const TOKEN = "bearer-auth-test-token";

function app(opts: Partial<BearerAuthOptions> = {}) {
  const rejected: string[] = [];
  const a = new Hono();
  a.onError((err, c) => c.json({ code: err instanceof UnauthorizedError ? err.code : "other" }, 401));
  a.use("*", bearerAuth({ token: TOKEN, onReject: (c) => rejected.push(c.req.method), ...opts }));
  a.all("/x", (c) => c.text("ok"));
  return { a, rejected };
}

const status = async (a: Hono, method: string, authorization?: string) =>
  (await a.request("/x", { method, headers: authorization ? { authorization } : {} })).status;

describe("bearerAuth", () => {
  it("by default: reads are open, writes need the token", async () => {
    const { a, rejected } = app();
    for (const m of ["GET", "HEAD", "OPTIONS"]) expect(await status(a, m)).toBe(200);
    for (const m of ["POST", "PUT", "PATCH", "DELETE"]) {
      expect(await status(a, m)).toBe(401);
      expect(await status(a, m, `Bearer ${TOKEN}`)).toBe(200);
    }
    expect(rejected).toEqual(["POST", "PUT", "PATCH", "DELETE"]);
  });

  it("checks a presented token even on an open read", async () => {
    const { a, rejected } = app();
    expect(await status(a, "GET", "Bearer wrong")).toBe(401);
    expect(await status(a, "GET", TOKEN)).toBe(401);
    expect(await status(a, "GET", `Bearer ${TOKEN}`)).toBe(200);
    expect(rejected).toEqual(["GET", "GET"]);
  });

  it("a scope that is not anonymous needs the token for every method", async () => {
    const { a } = app({ scope: () => "admin" });
    expect(await status(a, "GET")).toBe(401);
    expect(await status(a, "GET", `Bearer ${TOKEN}`)).toBe(200);
    const none = app({ anonymous: [] }).a;
    expect(await status(none, "GET")).toBe(401);
  });

  it("an empty token accepts no credentials", async () => {
    const { a } = app({ token: "" });
    expect(await status(a, "POST", "Bearer ")).toBe(401);
    expect(await status(a, "GET")).toBe(200);
  });
});
