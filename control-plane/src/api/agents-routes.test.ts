import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import type { AgentHealth } from "../consensus/types.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });
const TOKEN = "agents-api-token";
const NOW = Date.UTC(2026, 0, 1);

async function setup() {
  const enrollments = createMemoryEnrollments({ now: () => NOW });
  const agents = createMemoryAgentDirectory({ now: () => NOW + 1000 });
  const apiTokens = createMemoryApiTokens();
  const app = createApi({
    config: { apiToken: TOKEN },
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents,
    enrollments,
    apiTokens,
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    agentHealth: (id) =>
      id === "agent-eu" ? ({ impaired: true, reason: "canary failing", since: NOW } as AgentHealth) : undefined,
  });
  const call = (method: string, path: string, body?: unknown, token = TOKEN) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  return { app, enrollments, agents, apiTokens, call };
}

describe("/v1/agents", () => {
  it("POST enrolls: 201 with the token once, Location; the agent can then authenticate", async () => {
    const { call, enrollments } = await setup();
    const res = await call("POST", "/v1/agents", { id: "agent-eu", region: "eu-west", provider: "aws" });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe("/v1/agents/agent-eu");
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      id: "agent-eu",
      region: "eu-west",
      provider: "aws",
      enrolledAt: NOW,
      revokedAt: null,
      connected: false,
      lastSeenAt: null,
      token: expect.stringMatching(/^pma_/),
    });
    expect(enrollments.authenticate(body.token as string)?.id).toBe("agent-eu");
    const again = await call("GET", "/v1/agents/agent-eu");
    expect(JSON.stringify(await again.json())).not.toContain(body.token as string);
  });

  it("409 on an id enrolled before; 400 naming each bad field; provider is optional", async () => {
    const { call } = await setup();
    expect((await call("POST", "/v1/agents", { id: "a", region: "r" })).status).toBe(201);
    const dup = await call("POST", "/v1/agents", { id: "a", region: "other" });
    expect(dup.status).toBe(409);
    const bad = await call("POST", "/v1/agents", { id: "a.b", region: "", extra: 1 });
    expect(bad.status).toBe(400);
    const problems = ((await bad.json()) as { error: { details: { problems: { field: string }[] } } }).error.details
      .problems;
    expect(problems.map((p) => p.field).sort()).toEqual(["extra", "id", "region"]);
    expect((await call("POST", "/v1/agents", "not json")).status).toBe(400);
  });

  it("GET lists enrolled agents merged with presence and consensus health; GET /:id; 404 unknown", async () => {
    const { call, enrollments, agents } = await setup();
    await enrollments.enroll({ id: "agent-eu", region: "eu-west", provider: "aws" });
    await enrollments.enroll({ id: "agent-us", region: "us-east", provider: "gcp" });
    await agents.streamOpened(
      { id: "agent-eu", region: "eu-west", provider: "aws", version: "1.2.3", capabilities: ["http"] },
      "s1",
      7,
    );
    const list = (await (await call("GET", "/v1/agents")).json()) as Record<string, unknown>[];
    expect(list).toMatchObject([
      {
        id: "agent-eu",
        version: "1.2.3",
        capabilities: ["http"],
        connected: true,
        lastSeenAt: NOW + 1000,
        assignmentVersion: 7,
        impaired: true,
        impairedReason: "canary failing",
      },
      { id: "agent-us", region: "us-east", version: "", connected: false, lastSeenAt: null, impaired: false },
    ]);
    expect(await (await call("GET", "/v1/agents/agent-us")).json()).toMatchObject({ id: "agent-us" });
    expect((await call("GET", "/v1/agents/nobody")).status).toBe(404);
    expect((await call("GET", "/v1/agents/bad.id")).status).toBe(400);
  });

  it("DELETE revokes (204), shows revokedAt and not connected; 404 for an unknown agent", async () => {
    const { call, enrollments, agents } = await setup();
    const { token } = await enrollments.enroll({ id: "agent-eu", region: "eu-west", provider: "aws" });
    await agents.streamOpened(
      { id: "agent-eu", region: "eu-west", provider: "aws", version: "1", capabilities: [] },
      "s1",
      1,
    );
    expect((await call("DELETE", "/v1/agents/agent-eu")).status).toBe(204);
    expect(enrollments.authenticate(token)).toBeUndefined();
    expect(await (await call("GET", "/v1/agents/agent-eu")).json()).toMatchObject({
      connected: false,
      revokedAt: expect.any(Number),
    });
    expect((await call("DELETE", "/v1/agents/nobody")).status).toBe(404);
  });

  it("enrolling and revoking need the admin scope", async () => {
    const { call, apiTokens } = await setup();
    const write = (await apiTokens.create({ name: "ci", scopes: ["write"] })).token;
    const admin = (await apiTokens.create({ name: "ops", scopes: ["admin"] })).token;
    expect((await call("POST", "/v1/agents", { id: "a", region: "r" }, write)).status).toBe(403);
    expect((await call("DELETE", "/v1/agents/a", undefined, write)).status).toBe(403);
    expect((await call("POST", "/v1/agents", { id: "a", region: "r" }, admin)).status).toBe(201);
  });

  it("a read token lists agents (the dashboard's view) and the answer holds no token or credential", async () => {
    const { call, apiTokens, enrollments, agents } = await setup();
    const read = (await apiTokens.create({ name: "dashboard", scopes: ["read"] })).token;
    const { token } = await enrollments.enroll({ id: "agent-eu", region: "eu-west", provider: "aws" });
    await agents.heartbeat(
      { id: "agent-eu", region: "eu-west", provider: "aws", version: "1.2.3", capabilities: ["http"] },
      { assignmentVersion: 3, outboxDepth: 42, lastSeq: 9, schedulingLagP99Ms: 7 },
    );
    const res = await call("GET", "/v1/agents", undefined, read);
    expect(res.status).toBe(200);
    const text = await res.text();
    const [agent] = JSON.parse(text) as Record<string, unknown>[];
    expect(agent).toMatchObject({ id: "agent-eu", region: "eu-west", outboxDepth: 42, schedulingLagP99Ms: 7 });
    // Exactly the documented fields: a new one must be judged before a read token sees it.
    expect(Object.keys(agent ?? {}).sort()).toEqual(
      [
        "id",
        "region",
        "provider",
        "enrolledAt",
        "revokedAt",
        "version",
        "capabilities",
        "assignmentVersion",
        "outboxDepth",
        "lastSeq",
        "schedulingLagP99Ms",
        "connected",
        "lastSeenAt",
        "connectedAt",
        "impaired",
        "impairedReason",
        "impairedSince",
      ].sort(),
    );
    expect(text).not.toContain(token);
    expect(text).not.toMatch(/token|hash|secret/i);
    expect((await call("GET", "/v1/agents/agent-eu", undefined, read)).status).toBe(200);
    expect((await call("POST", "/v1/agents", { id: "b", region: "r" }, read)).status).toBe(403);
  });
});
