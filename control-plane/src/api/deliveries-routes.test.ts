import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryDeliveryLog } from "../hooks/delivery-log.js";
import { createMemoryHookRegistry } from "../hooks/registry.js";
import type { DeliveryRecord } from "../hooks/types.js";
import { validateHook } from "../hooks/validate-hook.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });
const URL_WITH_CREDENTIALS = "https://receiver.internal.test/hunter2/hooks?token=s3cr3t";

async function setup() {
  const registry = createMemoryHookRegistry({ now: () => 1000 });
  const deliveries = createMemoryDeliveryLog();
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
    hooks: { registry, deliveries, test: async () => ({ eventId: "t", deliveryId: "t" }) },
  });
  const read = (await apiTokens.create({ name: "dashboard", scopes: ["read"] })).token;
  const get = (path: string, token = read) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
  for (const [id, type, checks] of [
    ["ops", "webhook", ["web"]],
    ["chat", "slack", ["web", "api"]],
  ] as const) {
    const { hook } = validateHook(
      { id, type, url: URL_WITH_CREDENTIALS, events: ["outage.opened"], checks },
      { mode: "create" },
    );
    await registry.create(hook);
  }
  const record = (r: Partial<DeliveryRecord> & Pick<DeliveryRecord, "hookId" | "checkId" | "at">) =>
    deliveries.record({
      eventId: `e${r.at}`,
      eventType: "outage.opened",
      deliveryId: `e${r.at}:${r.hookId}`,
      attempt: 1,
      outcome: "delivered",
      latencyMs: 5,
      ...r,
    });
  await record({ hookId: "ops", checkId: "web", at: 10, status: 200 });
  await record({
    hookId: "ops",
    checkId: "web",
    at: 20,
    attempt: 2,
    outcome: "failed",
    status: 502,
    error: `fetch failed: ${URL_WITH_CREDENTIALS}`,
    result: { ok: false, action: `POST to ${URL_WITH_CREDENTIALS}`, error: "hunter2" },
    retryAt: 30,
  });
  await record({ hookId: "chat", checkId: "api", at: 15, status: 200 });
  // A deleted hook's log is not shown.
  await record({ hookId: "gone", checkId: "web", at: 16 });
  return { get, apiTokens };
}

describe("GET /v1/deliveries", () => {
  it("a read token gets every hook's deliveries, merged oldest first, with the hook's type", async () => {
    const { get } = await setup();
    const res = await get("/v1/deliveries");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      expect.objectContaining({ hookId: "ops", hookType: "webhook", at: 10, outcome: "delivered", status: 200 }),
      expect.objectContaining({ hookId: "chat", hookType: "slack", checkId: "api", at: 15 }),
      {
        hookId: "ops",
        hookType: "webhook",
        eventId: "e20",
        eventType: "outage.opened",
        checkId: "web",
        deliveryId: "e20:ops",
        attempt: 2,
        outcome: "failed",
        status: 502,
        latencyMs: 5,
        at: 20,
        retryAt: 30,
      },
    ]);
  });

  it("never answers the hook's URL, credentials, error texts or action results", async () => {
    const { get } = await setup();
    const text = await (await get("/v1/deliveries?limit=1000")).text();
    expect(text).toContain("e20:ops");
    for (const secret of ["hunter2", "s3cr3t", "receiver.internal.test", "fetch failed", '"error"', '"result"'])
      expect(text).not.toContain(secret);
  });

  it("filters by hookId and checkId; limit keeps the newest", async () => {
    const { get } = await setup();
    const ats = async (q: string) =>
      ((await (await get(`/v1/deliveries${q}`)).json()) as { at: number }[]).map((d) => d.at);
    expect(await ats("?hookId=ops")).toEqual([10, 20]);
    expect(await ats("?checkId=api")).toEqual([15]);
    expect(await ats("?hookId=chat&checkId=web")).toEqual([]);
    expect(await ats("?hookId=nobody")).toEqual([]);
    expect(await ats("?limit=2")).toEqual([15, 20]);
  });

  it("400 names a bad parameter; 401 without a token", async () => {
    const { get } = await setup();
    for (const q of ["?limit=0", "?limit=1001", "?hookId=Bad.Id", "?checkId=a%20b", "?url=x"]) {
      const res = await get(`/v1/deliveries${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_argument");
    }
    expect((await get("/v1/deliveries", "")).status).toBe(401);
  });
});
