import { Hono } from "hono";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryDeliveryLog } from "../hooks/delivery-log.js";
import { createMemoryHookRegistry } from "../hooks/registry.js";
import { selects, wants } from "../hooks/subscription.js";
import type { Hook, HookEvent } from "../hooks/types.js";
import { createMemoryMaintenanceRegistry } from "../maintenance/registry.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";
import { createHooksApi, requireHooksToken } from "./hooks-routes.js";

const TOKEN = "config-as-code-token";
const log = pino({ level: "silent" });

function api() {
  const app = createApi({
    config: { apiToken: TOKEN },
    enrollments: createMemoryEnrollments(),
    apiTokens: createMemoryApiTokens(),
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    maintenance: createMemoryMaintenanceRegistry(),
  });
  const req = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return req;
}

const web = {
  id: "web",
  type: "http",
  name: "Web front",
  description: "The public site, from every region",
  labels: { team: "web" },
  http: { url: "https://example.com/" },
};

describe("checks: name, description, ETag and If-Match", () => {
  it("keeps name and description, and a GET's ETag changes with every write", async () => {
    const req = api();
    expect((await req("POST", "/v1/checks", web)).status).toBe(201);
    const got = await req("GET", "/v1/checks/web");
    expect(await got.json()).toMatchObject({ name: "Web front", description: "The public site, from every region" });
    const etag = got.headers.get("etag");
    expect(etag).toMatch(/^"\d+"$/);
    const put = await req("PUT", "/v1/checks/web", { ...web, name: "Web" }, { "if-match": etag ?? "" });
    expect(put.status).toBe(200);
    expect(put.headers.get("etag")).not.toBe(etag);
    expect((await req("GET", "/v1/checks/web")).headers.get("etag")).toBe(put.headers.get("etag"));
  });

  it("refuses a PUT or DELETE whose If-Match is stale with 412 naming the current version", async () => {
    const req = api();
    await req("POST", "/v1/checks", web);
    const stale = (await req("GET", "/v1/checks/web")).headers.get("etag") ?? "";
    expect((await req("PUT", "/v1/checks/web", { ...web, name: "first" }, { "if-match": stale })).status).toBe(200);
    const second = await req("PUT", "/v1/checks/web", { ...web, name: "second" }, { "if-match": stale });
    expect(second.status).toBe(412);
    const body = (await second.json()) as { error: { code: string; message: string; details: { etag: string } } };
    expect(body.error.code).toBe("failed_precondition");
    expect(body.error.message).toContain('check "web" changed since it was read');
    expect(body.error.details.etag).toBe((await req("GET", "/v1/checks/web")).headers.get("etag"));
    expect(await (await req("GET", "/v1/checks/web")).json()).toMatchObject({ name: "first" });
    expect((await req("DELETE", "/v1/checks/web", undefined, { "if-match": stale })).status).toBe(412);
    expect((await req("DELETE", "/v1/checks/web", undefined, { "if-match": '"nonsense' })).status).toBe(412);
    expect((await req("DELETE", "/v1/checks/web", undefined, { "if-match": "*" })).status).toBe(204);
  });

  it("refuses a name longer than 200 characters, naming the field", async () => {
    const req = api();
    const res = await req("POST", "/v1/checks", { ...web, name: "x".repeat(201) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { details: { field: string } } }).error.details.field).toBe("name");
  });
});

describe("maintenance windows: PUT, ETag and If-Match", () => {
  const window = { id: "db", checks: ["web"], from: 1_000, to: 2_000 };
  it("replaces a window as a GET returned it, and refuses a stale If-Match", async () => {
    const req = api();
    expect((await req("POST", "/v1/maintenance", window)).status).toBe(201);
    const got = await req("GET", "/v1/maintenance/db");
    const etag = got.headers.get("etag") ?? "";
    const body = (await got.json()) as Record<string, unknown>;
    const put = await req("PUT", "/v1/maintenance/db", { ...body, to: 3_000 }, { "if-match": etag });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ id: "db", to: 3_000 });
    expect((await req("PUT", "/v1/maintenance/db", { ...window, to: 4_000 }, { "if-match": etag })).status).toBe(412);
    expect((await req("DELETE", "/v1/maintenance/db", undefined, { "if-match": etag })).status).toBe(412);
    expect((await req("PUT", "/v1/maintenance/db", { ...window, id: "other" })).status).toBe(400);
    expect((await req("PUT", "/v1/maintenance/nope", { ...window, id: "nope" })).status).toBe(404);
  });
});

describe("hooks: selector, ETag and If-Match", () => {
  function hooksApi() {
    const registry = createMemoryHookRegistry();
    const hooks = {
      registry,
      deliveries: createMemoryDeliveryLog(),
      test: async () => ({ eventId: "", deliveryId: "" }),
    };
    const app = new Hono().route("/v1/hooks", createHooksApi({ hooks, log, auth: requireHooksToken(TOKEN) }));
    return (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      app.request(path, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
  }
  const hook = { id: "ops", type: "webhook", url: "http://127.0.0.1:9/h", selector: { team: "web" } };

  it("stores a selector and refuses one given with checks, naming selector", async () => {
    const req = hooksApi();
    const created = await req("POST", "/v1/hooks", hook);
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ selector: { team: "web" }, checks: [] });
    const both = await req("POST", "/v1/hooks", { ...hook, id: "both", checks: ["web"] });
    expect(both.status).toBe(400);
    const err = ((await both.json()) as { error: { message: string; details: { field: string } } }).error;
    expect(err.details.field).toBe("selector");
    expect(err.message).toContain("not both");
  });

  it("changes a hook only at the version its If-Match names", async () => {
    const req = hooksApi();
    await req("POST", "/v1/hooks", hook);
    const got = await req("GET", "/v1/hooks/ops");
    const etag = got.headers.get("etag") ?? "";
    expect(etag).toMatch(/^"\d+"$/);
    expect(
      (await req("PUT", "/v1/hooks/ops", { ...hook, selector: { team: "db" } }, { "if-match": etag })).status,
    ).toBe(200);
    const late = await req("PUT", "/v1/hooks/ops", hook, { "if-match": etag });
    expect(late.status).toBe(412);
    expect((await req("DELETE", "/v1/hooks/ops", undefined, { "if-match": etag })).status).toBe(412);
    expect(await (await req("GET", "/v1/hooks/ops")).json()).toMatchObject({ selector: { team: "db" } });
  });

  it("delivers to a selector hook the events of the checks whose labels all match", () => {
    const rec = {
      hook: { id: "h", type: "webhook", events: ["outage.opened"], checks: [], selector: { team: "web", env: "prod" } },
      createdAt: 0,
      updatedAt: 0,
      revision: 1,
    } as unknown as { hook: Hook; createdAt: number; updatedAt: number; revision: number };
    const event = (checkId: string): HookEvent =>
      ({ id: "e", type: "outage.opened", timestamp: "", data: { checkId, state: "down", regions: {} } }) as HookEvent;
    const labels: Record<string, Record<string, string>> = {
      web: { team: "web", env: "prod", extra: "x" },
      staging: { team: "web", env: "staging" },
    };
    const labelsOf = (id: string) => labels[id];
    expect(wants(rec, event("web"), labelsOf)).toBe(true);
    expect(wants(rec, event("staging"), labelsOf)).toBe(false);
    expect(wants(rec, event("unknown"), labelsOf)).toBe(false);
    expect(selects({}, "unknown", labelsOf)).toBe(true);
    expect(selects(undefined, "web", labelsOf)).toBe(true);
  });
});
