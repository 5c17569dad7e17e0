import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { validateCheck } from "../checks/validate-check.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });

async function setup(publicStatus: boolean) {
  const registry = createMemoryRegistry({ log });
  const check = (id: string, extra: Record<string, unknown>) =>
    registry.create(
      validateCheck(
        {
          id,
          type: "http",
          http: { url: "https://example.com/?token=s3cret", headers: { authorization: "x" } },
          ...extra,
        },
        { mode: "create" },
      ),
    );
  await check("web", { public: true });
  await check("admin-panel", {});
  await check("api", { public: true, regions: ["eu-west"] });
  return createApi({
    config: { apiToken: "public-test-token", publicStatus },
    registry,
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    enrollments: createMemoryEnrollments(),
    apiTokens: createMemoryApiTokens(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    consensus: {
      engine: { status: (id) => (id === "web" ? ({ state: "down" } as never) : undefined) },
      outageStore: {
        listOutages: async () => [],
        resultCounts: async () => [],
        loadObservations: async () => ({ observations: [], truncated: false }),
        observedBuckets: async () => new Map(),
      },
      lookupCheck: async () => undefined,
    },
  });
}

describe("GET /v1/public/status", () => {
  it("with PROBEMESH_PUBLIC_STATUS=true: no token, only id and state of the public checks", async () => {
    const app = await setup(true);
    const res = await app.request("/v1/public/status");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      checks: [
        { id: "api", state: "unknown" },
        { id: "web", state: "down" },
      ],
    });
    expect(text).not.toMatch(/example|s3cret|admin-panel|eu-west/);
    // Nothing else opens up.
    expect((await app.request("/v1/checks")).status).toBe(401);
    expect((await app.request("/v1/checks/web/status")).status).toBe(401);
  });

  it("otherwise 404, with or without a token", async () => {
    const app = await setup(false);
    expect((await app.request("/v1/public/status")).status).toBe(404);
    const withToken = await app.request("/v1/public/status", {
      headers: { authorization: "Bearer public-test-token" },
    });
    expect(withToken.status).toBe(404);
  });

  it("a check is not public unless it says so, and says so in its JSON", async () => {
    const app = await setup(true);
    const auth = { authorization: "Bearer public-test-token" };
    expect(await (await app.request("/v1/checks/web", { headers: auth })).json()).toMatchObject({ public: true });
    const other = (await (await app.request("/v1/checks/admin-panel", { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(other.public ?? false).toBe(false);
  });
});
