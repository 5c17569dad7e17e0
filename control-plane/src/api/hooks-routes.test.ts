import { Writable } from "node:stream";
import { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { NotFoundError } from "../errors.js";
import { createMemoryDeliveryLog } from "../hooks/delivery-log.js";
import type { Hooks } from "../hooks/hooks.js";
import { createMemoryHookRegistry } from "../hooks/registry.js";
import { generateSecret } from "../hooks/signing.js";
import { createHooksApi, requireHooksToken } from "./hooks-routes.js";

const TOKEN = "t0ken";

function setup() {
  let logged = "";
  const log = pino(
    { level: "debug" },
    new Writable({ write: (c: Buffer, _e, cb) => ((logged += c.toString()), cb()) }),
  );
  const registry = createMemoryHookRegistry({ now: () => 1000 });
  const deliveries = createMemoryDeliveryLog();
  const tested: string[] = [];
  const hooks: Pick<Hooks, "registry" | "deliveries" | "test"> = {
    registry,
    deliveries,
    async test(id) {
      if (!(await registry.get(id))) throw new NotFoundError("hook", id);
      tested.push(id);
      return { eventId: "test-1", deliveryId: `test-1:${id}` };
    },
  };
  const app = new Hono().route("/v1/hooks", createHooksApi({ hooks, log, auth: requireHooksToken(TOKEN) }));
  const req = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  return { app, hooks, req, registry, deliveries, tested, logged: () => logged };
}

const webhook = {
  id: "dns-failover",
  type: "webhook",
  url: "http://127.0.0.1:9000/hook",
  events: ["outage.opened", "outage.resolved"],
  checks: ["web"],
};

describe("hooks API", () => {
  it("creates a hook, returning a generated secret once; reads never show it", async () => {
    const { req, logged } = setup();
    const res = await req("POST", "/v1/hooks", webhook);
    expect(res.status).toBe(201);
    const created = (await res.json()) as Record<string, unknown>;
    expect(created).toMatchObject({
      ...webhook,
      hasSecret: true,
      cooldownMs: 0,
      minHoldMs: 0,
      dryRun: false,
      disabled: null,
      createdAt: 1000,
    });
    const secret = String(created.secret);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{40,}/);
    const got = (await (await req("GET", "/v1/hooks/dns-failover")).json()) as Record<string, unknown>;
    expect(got.secret).toBe("whsec_***");
    const list = await (await req("GET", "/v1/hooks")).text();
    expect(list).not.toContain(secret.slice(6));
    expect(JSON.parse(list)).toHaveLength(1);
    expect(logged()).not.toContain(secret.slice(6));
  });

  it("a given secret is stored but never echoed", async () => {
    const { req, registry } = setup();
    const secret = generateSecret();
    const res = await req("POST", "/v1/hooks", { ...webhook, secret });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain(secret.slice(6));
    expect((await registry.get("dns-failover"))?.hook.secret).toBe(secret);
  });

  it("answers errors as { error: { code, message, details } }", async () => {
    const { req } = setup();
    const bad = await req("POST", "/v1/hooks", { id: "x", type: "webhook", url: "nope", events: ["boom"] });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; details: { problems: { field: string }[] } } };
    expect(body.error.code).toBe("invalid_argument");
    expect(body.error.details.problems.map((p) => p.field).sort()).toEqual(["events[0]", "url"]);
    expect((await req("POST", "/v1/hooks", "{not json")).status).toBe(400);
    await req("POST", "/v1/hooks", webhook);
    const dup = await req("POST", "/v1/hooks", webhook);
    expect(dup.status).toBe(409);
    expect(((await dup.json()) as { error: { code: string } }).error.code).toBe("conflict");
    const missing = await req("GET", "/v1/hooks/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "not_found" } });
    expect((await req("GET", "/v1/hooks/Bad.Id")).status).toBe(400);
    expect((await req("POST", "/v1/hooks", { ...webhook, id: "big", pad: "x".repeat(70_000) })).status).toBe(413);
  });

  it("needs the bearer token on reads and writes", async () => {
    const { app } = setup();
    const noAuth = await app.request("/v1/hooks");
    expect(noAuth.status).toBe(401);
    expect(await noAuth.json()).toMatchObject({ error: { code: "unauthenticated" } });
    expect(
      (await app.request("/v1/hooks", { method: "POST", headers: { authorization: "Bearer wrong" }, body: "{}" }))
        .status,
    ).toBe(401);
  });

  it("replaces a hook with PUT (GET body round-trips, secret kept), deletes with 204", async () => {
    const { req, registry } = setup();
    const created = (await (await req("POST", "/v1/hooks", webhook)).json()) as Record<string, unknown>;
    const stored = (await registry.get("dns-failover"))?.hook.secret;
    const shown = (await (await req("GET", "/v1/hooks/dns-failover")).json()) as Record<string, unknown>;
    const put = await req("PUT", "/v1/hooks/dns-failover", { ...shown, dryRun: true });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ dryRun: true, secret: "whsec_***" });
    expect((await registry.get("dns-failover"))?.hook.secret).toBe(stored);
    expect(created.secret).toBe(stored);
    expect((await req("PUT", "/v1/hooks/other", shown)).status).toBe(404);
    expect((await req("PUT", "/v1/hooks/dns-failover", { ...shown, id: "other" })).status).toBe(400);
    expect((await req("DELETE", "/v1/hooks/dns-failover")).status).toBe(204);
    expect((await req("DELETE", "/v1/hooks/dns-failover")).status).toBe(404);
  });

  it("lists a hook's deliveries (newest last, limit validated) and sends test events", async () => {
    const { req, deliveries, tested } = setup();
    await req("POST", "/v1/hooks", webhook);
    for (let i = 1; i <= 3; i++) {
      await deliveries.record({
        hookId: "dns-failover",
        eventId: "o1:outage.opened",
        eventType: "outage.opened",
        checkId: "web",
        deliveryId: "o1:outage.opened:dns-failover",
        attempt: i,
        outcome: i < 3 ? "failed" : "delivered",
        status: i < 3 ? 503 : 200,
        latencyMs: 5,
        at: 1000 + i,
      });
    }
    const res = await req("GET", "/v1/hooks/dns-failover/deliveries?limit=2");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { attempt: number; outcome: string }[]).map((r) => [r.attempt, r.outcome])).toEqual([
      [2, "failed"],
      [3, "delivered"],
    ]);
    expect((await req("GET", "/v1/hooks/dns-failover/deliveries?limit=0")).status).toBe(400);
    expect((await req("GET", "/v1/hooks/dns-failover/deliveries?from=1")).status).toBe(400);
    expect((await req("GET", "/v1/hooks/nope/deliveries")).status).toBe(404);
    const t = await req("POST", "/v1/hooks/dns-failover/test");
    expect(t.status).toBe(202);
    expect(await t.json()).toEqual({ eventId: "test-1", deliveryId: "test-1:dns-failover", status: "enqueued" });
    expect(tested).toEqual(["dns-failover"]);
    expect((await req("POST", "/v1/hooks/nope/test")).status).toBe(404);
  });
});

describe("hooks API document", () => {
  it("documents every route with its request, responses and bearer security", () => {
    const api = createHooksApi({ hooks: setup().hooks, log: pino({ level: "silent" }) });
    const doc = api.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "hooks", version: "1" } });
    const documented = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`),
    );
    const served = api.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`);
    expect(new Set(documented)).toEqual(new Set(served));
    expect(documented.sort()).toEqual([
      "DELETE /:id",
      "GET /",
      "GET /:id",
      "GET /:id/deliveries",
      "POST /",
      "POST /:id/test",
      "PUT /:id",
    ]);
    for (const item of Object.values(doc.paths ?? {}))
      for (const op of Object.values(item as Record<string, { security: unknown; responses: object }>)) {
        expect(op.security).toEqual([{ bearerAuth: ["admin"] }]);
        expect(op).toHaveProperty("x-probemesh-scope", "admin");
        expect(op.responses).toHaveProperty("401");
        expect(op.responses).toHaveProperty("403");
      }
    expect(Object.keys(doc.components?.schemas ?? {})).toEqual(
      expect.arrayContaining(["Hook", "HookInput", "WebhookHookInput", "Delivery", "TestEventResult", "Error"]),
    );
    expect(doc.components?.securitySchemes).toHaveProperty("bearerAuth");
    // Mounted under /v1/hooks, the paths follow the mount point.
    const v1 = new OpenAPIHono().route("/v1/hooks", api);
    expect(
      Object.keys(v1.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "v1", version: "1" } }).paths ?? {}),
    ).toContain("/v1/hooks/{id}/deliveries");
  });
});
