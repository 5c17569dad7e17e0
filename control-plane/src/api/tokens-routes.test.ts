import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });
const BOOTSTRAP = "tokens-api-token";

function setup() {
  const apiTokens = createMemoryApiTokens({ now: () => 5 });
  const app = createApi({
    config: { apiToken: BOOTSTRAP },
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    enrollments: createMemoryEnrollments(),
    apiTokens,
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
  });
  const call = (method: string, path: string, body?: unknown, token = BOOTSTRAP) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return { app, call };
}

describe("/v1/tokens", () => {
  it("creates a scoped token shown once; it works with exactly its scopes; revoking it ends that", async () => {
    const { app, call } = setup();
    const res = await call("POST", "/v1/tokens", { name: "ci", scopes: ["write"] });
    expect(res.status).toBe(201);
    const made = (await res.json()) as { id: string; token: string };
    expect(made).toEqual({
      id: expect.any(String),
      name: "ci",
      scopes: ["write"],
      createdAt: 5,
      token: expect.any(String),
    });
    expect(res.headers.get("location")).toBe(`/v1/tokens/${made.id}`);

    expect((await call("GET", "/v1/checks", undefined, made.token)).status).toBe(200);
    expect((await call("POST", "/v1/checks", {}, made.token)).status).toBe(400);
    expect((await call("GET", "/v1/tokens", undefined, made.token)).status).toBe(403);
    expect(app.stats().forbidden).toBe(1);

    const listed = await (await call("GET", "/v1/tokens")).text();
    expect(JSON.parse(listed)).toEqual([{ id: made.id, name: "ci", scopes: ["write"], createdAt: 5 }]);
    expect(listed).not.toContain(made.token);
    expect(await (await call("GET", `/v1/tokens/${made.id}`)).json()).toMatchObject({ name: "ci" });

    expect((await call("DELETE", `/v1/tokens/${made.id}`)).status).toBe(204);
    expect((await call("GET", "/v1/checks", undefined, made.token)).status).toBe(401);
    expect((await call("DELETE", `/v1/tokens/${made.id}`)).status).toBe(404);
    expect((await call("GET", `/v1/tokens/${made.id}`)).status).toBe(404);
  });

  it("400 on a bad name or scopes; a write token cannot mint an admin one", async () => {
    const { call } = setup();
    expect((await call("POST", "/v1/tokens", { name: "x", scopes: [] })).status).toBe(400);
    expect((await call("POST", "/v1/tokens", { name: "x", scopes: ["root"] })).status).toBe(400);
    expect((await call("POST", "/v1/tokens", { name: "", scopes: ["read"] })).status).toBe(400);
    expect((await call("POST", "/v1/tokens", { scopes: ["read"] })).status).toBe(400);
    const writer = (await (await call("POST", "/v1/tokens", { name: "w", scopes: ["write"] })).json()) as {
      token: string;
    };
    expect((await call("POST", "/v1/tokens", { name: "x", scopes: ["admin"] }, writer.token)).status).toBe(403);
  });
});
