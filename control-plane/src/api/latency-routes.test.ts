import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { normalizePolicy } from "../consensus/policy.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { OutageStore } from "../store/outages.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });
const NOW = Date.UTC(2026, 0, 31);
const DAY = 86_400_000;

async function setup() {
  const asked: Parameters<OutageStore["latencyBuckets"]>[0][] = [];
  const apiTokens = createMemoryApiTokens();
  const app = createApi({
    config: { apiToken: "bootstrap" },
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    enrollments: createMemoryEnrollments(),
    apiTokens,
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    now: () => NOW,
    consensus: {
      outageStore: {
        listOutages: async () => [],
        resultCounts: async () => [],
        loadObservations: async () => ({ observations: [], truncated: false }),
        observedBuckets: async () => new Map(),
      },
      lookupCheck: async (id) =>
        id === "web"
          ? {
              ...normalizePolicy({ checkId: "web", intervalMs: 30_000, regions: ["eu", "us"] }),
              checkUid: "uid-web",
              createdAt: NOW - 10 * DAY,
            }
          : undefined,
      latencyBuckets: async (q) => {
        asked.push(q);
        return [{ region: "eu", at: q.from, total: 3, down: 1, avgDurationMs: 12.5 }];
      },
    },
  });
  const read = (await apiTokens.create({ name: "dashboard", scopes: ["read"] })).token;
  const get = (path: string) => app.request(path, { headers: { authorization: `Bearer ${read}` } });
  return { get, asked };
}

describe("GET /v1/checks/{id}/latency", () => {
  it("reads the rollups of the current check at the window's resolution (read token)", async () => {
    const { get, asked } = await setup();
    const res = await get("/v1/checks/web/latency?window=7d");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      checkId: "web",
      window: "7d",
      from: NOW - 7 * DAY,
      to: NOW,
      bucketMs: 3_600_000,
      buckets: [{ region: "eu", at: NOW - 7 * DAY, total: 3, down: 1, avgDurationMs: 12.5 }],
    });
    expect(asked[0]).toEqual({
      checkId: "web",
      checkUids: ["uid-web"],
      from: NOW - 7 * DAY,
      to: NOW,
      bucketMs: 3_600_000,
    });
  });

  it("defaults to 24h in 5-minute buckets; a window starts no earlier than the check's creation", async () => {
    const { get, asked } = await setup();
    expect(await (await get("/v1/checks/web/latency")).json()).toMatchObject({ window: "24h", bucketMs: 300_000 });
    expect(await (await get("/v1/checks/web/latency?window=30d")).json()).toMatchObject({
      from: NOW - 10 * DAY,
      bucketMs: 6 * 3_600_000,
    });
    expect(asked.map((q) => q.bucketMs)).toEqual([300_000, 6 * 3_600_000]);
  });

  it("400 for an unknown window or parameter, 404 for an unknown check", async () => {
    const { get } = await setup();
    for (const q of ["?window=2d", "?window=", "?from=1"])
      expect((await get(`/v1/checks/web/latency${q}`)).status, q).toBe(400);
    expect((await get("/v1/checks/nope/latency")).status).toBe(404);
  });
});
