import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { normalizePolicy } from "../consensus/policy.js";
import type { Outage } from "../consensus/types.js";
import { createMemoryMaintenanceRegistry } from "../maintenance/registry.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createApi } from "./app.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";

const TOKEN = "maintenance-api-token";
const H = 3_600_000;
const NOW = 1000 * H;
const log = pino({ level: "silent" });
const auth = { authorization: `Bearer ${TOKEN}` };

function api(outages: Outage[] = []) {
  const maintenance = createMemoryMaintenanceRegistry({ now: () => NOW });
  const app = createApi({
    config: { apiToken: TOKEN },
    enrollments: createMemoryEnrollments(),
    apiTokens: createMemoryApiTokens(),
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    now: () => NOW,
    maintenance,
    consensus: {
      engine: { status: () => undefined },
      outageStore: {
        listOutages: async (q) => outages.filter((o) => (q.kinds ?? ["outage", "partial"]).includes(o.kind)),
        resultCounts: async () => [],
        loadObservations: async () => ({ observations: [], truncated: false }),
        observedBuckets: async () => new Map(),
      },
      lookupCheck: async (id) =>
        id === "web" ? { ...normalizePolicy({ checkId: "web", regions: ["eu-west"] }), createdAt: 0 } : undefined,
    },
  });
  return { app, maintenance };
}

const post = (app: ReturnType<typeof api>["app"], body: unknown, headers: Record<string, string> = auth) =>
  app.request("/v1/maintenance", { method: "POST", headers, body: JSON.stringify(body) });

describe("/v1/maintenance", () => {
  it("creates (with the token), lists, reads and deletes a window", async () => {
    const { app } = api();
    const window = { id: "db-upgrade", checks: ["web"], from: NOW - H, to: NOW + H, description: "db" };
    expect((await post(app, window, {})).status).toBe(401);
    const created = await post(app, window);
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe("/v1/maintenance/db-upgrade");
    expect(await created.json()).toEqual({ ...window, createdAt: NOW });
    expect((await post(app, window)).status).toBe(409);

    const list = await app.request("/v1/maintenance", { headers: auth });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { id: string }[]).map((w) => w.id)).toEqual(["db-upgrade"]);
    expect((await app.request("/v1/maintenance/db-upgrade", { headers: auth })).status).toBe(200);
    expect((await app.request("/v1/maintenance/nope", { headers: auth })).status).toBe(404);

    expect((await app.request("/v1/maintenance/db-upgrade", { method: "DELETE" })).status).toBe(401);
    expect((await app.request("/v1/maintenance/db-upgrade", { method: "DELETE", headers: auth })).status).toBe(204);
    expect((await app.request("/v1/maintenance/db-upgrade", { method: "DELETE", headers: auth })).status).toBe(404);
  });

  it("answers 400 with every problem listed", async () => {
    const { app } = api();
    const res = await post(app, { id: "x", checks: [], from: 5, to: 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: { problems: { field: string }[] } } };
    expect(body.error.details.problems.map((p) => p.field)).toEqual(expect.arrayContaining(["checks", "to"]));
  });

  it("shows the window in the check's status while it lasts, and maintenanceMs in availability", async () => {
    const outage: Outage = {
      id: "outage:web:1",
      checkId: "web",
      kind: "outage",
      state: "resolved",
      startedAt: NOW - 3 * H,
      confirmedAt: NOW - 3 * H,
      resolvedAt: NOW - 2 * H,
      regions: ["eu-west"],
      reason: "connect",
    } as Outage;
    const { app, maintenance } = api([outage]);
    const plain = (await (await app.request("/v1/checks/web/status", { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(plain).not.toHaveProperty("maintenance");
    await maintenance.create({ id: "now", checks: ["web"], from: NOW - 4 * H, to: NOW + H });
    const status = (await (await app.request("/v1/checks/web/status", { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(status.maintenance).toEqual({ id: "now", from: NOW - 4 * H, to: NOW + H });

    const report = (await (
      await app.request(`/v1/checks/web/availability?from=${NOW - 24 * H}&to=${NOW}`, { headers: auth })
    ).json()) as {
      maintenanceMs: number;
      downtimeMs: number;
      regions: Record<string, { maintenanceMs: number }>;
    };
    expect(report.maintenanceMs).toBe(4 * H);
    expect(report.downtimeMs).toBe(0);
    expect(report.regions["eu-west"]?.maintenanceMs).toBe(4 * H);
  });
});
