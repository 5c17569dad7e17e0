import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { validateCheck } from "../checks/validate-check.js";
import type { CheckStatus } from "../consensus/types.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });

function status(checkId: string, state: CheckStatus["state"]): CheckStatus {
  const region = (s: "up" | "down") => ({
    state: s,
    since: 1,
    lastResultAt: 2,
    impaired: false,
    impairedReason: "",
    lastReason: "",
    error: "",
    agents: [],
  });
  return {
    checkId,
    state,
    reason: "",
    since: 1,
    regions: { "eu-west": region(state === "down" ? "down" : "up"), "us-east": region("up") },
    outage: null,
  };
}

/** `oversized`: checks whose owner could not send their status (larger than NATS max_payload). */
async function setup(oversized: string[] = []) {
  const registry = createMemoryRegistry({ log });
  const check = (id: string, extra: Record<string, unknown>) =>
    registry.create(
      validateCheck({ id, type: "http", http: { url: "https://example.com/" }, ...extra }, { mode: "create" }),
    );
  await check("web", { labels: { team: "web" } });
  await check("api", { labels: { team: "api" }, regions: ["us-east"] });
  await check("db", { labels: { team: "web" } });
  const app = createApi({
    config: { apiToken: "status-test-token" },
    registry,
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    enrollments: createMemoryEnrollments(),
    apiTokens: createMemoryApiTokens(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    // "db" is in a partition whose owner is silent.
    statuses: async (ids) => ({
      statuses: new Map(
        ids
          .filter((id) => id !== "db" && !oversized.includes(id))
          .map((id) => [id, status(id, id === "web" ? "down" : "up")]),
      ),
      unavailablePartitions: ids.includes("db") ? [7] : [],
      oversized,
    }),
    now: () => 1234,
  });
  return async (query: string) => {
    const res = await app.request(`/v1/status${query}`, { headers: { authorization: "Bearer status-test-token" } });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown> & { checks: Record<string, unknown>[] },
    };
  };
}

describe("GET /v1/status", () => {
  it("lists every check by id; a check whose owner is silent is unknown, its partition listed", async () => {
    const get = await setup();
    const { status: code, body } = await get("");
    expect(code).toBe(200);
    expect(body.generatedAt).toBe(1234);
    expect(body.unavailablePartitions).toEqual([7]);
    expect(body.checks.map((c) => [c.checkId, c.state, c.name])).toEqual([
      ["api", "up", "api"],
      ["db", "unknown", "db"],
      ["web", "down", "web"],
    ]);
    expect(body.checks[1]).toMatchObject({ reason: "owner unavailable", labels: { team: "web" } });
    expect(typeof body.checks[0]?.checkUid).toBe("string");
  });

  it("a check whose status is larger than NATS max_payload is unknown, saying so", async () => {
    const get = await setup(["api"]);
    const { body } = await get("");
    expect(body.checks[0]).toMatchObject({
      checkId: "api",
      state: "unknown",
      reason: "status larger than NATS max_payload",
    });
    expect(body.unavailablePartitions).toEqual([7]);
  });

  it("filters by state (repeatable, comma lists), labels (all must match) and region (regions trimmed)", async () => {
    const get = await setup();
    const ids = async (q: string) => (await get(q)).body.checks.map((c) => c.checkId);
    expect(await ids("?state=down")).toEqual(["web"]);
    expect(await ids("?state=down,unknown")).toEqual(["db", "web"]);
    expect(await ids("?state=down&state=up")).toEqual(["api", "web"]);
    expect(await ids("?label=team=web")).toEqual(["db", "web"]);
    expect(await ids("?label=team=web&state=down")).toEqual(["web"]);
    expect(await ids("?label=team=web&label=tier=1")).toEqual([]);
    const inEu = await get("?region=eu-west");
    expect(inEu.body.checks.map((c) => c.checkId)).toEqual(["db", "web"]);
    expect(Object.keys(inEu.body.checks[1]?.regions as object)).toEqual(["eu-west"]);
  });

  it("refuses bad filters with every problem listed", async () => {
    const get = await setup();
    const { status: code, body } = await get("?state=sideways&label=nokey&region=a&region=b&x=1");
    expect(code).toBe(400);
    expect(JSON.stringify(body)).toContain("state");
    expect(JSON.stringify(body)).toContain("label");
  });
});
