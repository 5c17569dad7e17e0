// History stored before check uids existed (check_uid "") stays visible after the upgrade, on a real
// nats-server (the registry serves the uid-less check with its derived uid) and clickhouse-server
// 18.16 (results, rollups, incidents, identities): the API's results, history, outages, availability,
// latency and replay of that check read its rows without a uid too, and a later check of the same id
// (random uid) never does.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createApi,
  createCheckIdentityStore,
  createClickHouseStore,
  createMemoryAgentDirectory,
  createMemoryApiTokens,
  createMemoryEnrollments,
  createOutageStore,
  createRegistry,
  createSecretBox,
  policyFromCheck,
  validateCheck,
  type ClickHouseStore,
  type NatsRegistry,
  type Outage,
  type ResultRow,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { storeUidlessCheck } from "./harness/uidless-check.js";

const log = pino({ level: "silent" });
const MIN = 60_000;
const NOW = Date.now();
/** When the uid-less check was created: two hours ago. */
const BORN = NOW - 120 * MIN;
const auth = { headers: { authorization: "Bearer legacy-test" } };

function row(id: string, checkId: string, checkUid: string, startedAt: number, over: Partial<ResultRow> = {}) {
  return {
    id,
    checkId,
    checkUid,
    checkVersion: 1,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "aws",
    startedAt,
    durationMs: 20,
    state: "up",
    reason: "",
    message: "",
    phases: { dnsMs: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, transferMs: 0 },
    seq: 1,
    attempts: 1,
    target: "http://127.0.0.1:9/",
    canary: false,
    lagMs: 0,
    httpStatus: 200,
    bodyBytes: 0,
    details: {},
    ...over,
  } satisfies ResultRow;
}

/** An incident as a release before uids stored it: no checkUid (stored as ""). */
function uidlessOutage(id: string, checkId: string, startedAt: number): Outage {
  return {
    id,
    checkId,
    kind: "outage",
    state: "resolved",
    startedAt,
    confirmedAt: startedAt + 1000,
    resolvedAt: startedAt + 2 * MIN,
    regions: ["eu-west"],
    reason: "connect",
  };
}

describe("history stored before check uids, after the upgrade", () => {
  let ch: ClickHouseServer;
  let nats: NatsServer;
  let nc: NatsConnection;
  let store: ClickHouseStore;
  let registry: NatsRegistry;
  let app: ReturnType<typeof createApi>;

  beforeAll(async () => {
    [ch, nats] = await Promise.all([startClickHouse(), startNats()]);
    store = createClickHouseStore({ url: ch.url, database: "pm_legacy", log });
    await store.migrate();
    nc = await connect({ servers: nats.url });
    await storeUidlessCheck(nc, "legacy", { createdAt: BORN, intervalMs: 60_000 });
    registry = createRegistry({ nc, log, secrets: createSecretBox(undefined) });
    await registry.start();
    const outageStore = createOutageStore({ client: store.client, log });
    const identities = createCheckIdentityStore({ client: store.client, log });
    app = createApi({
      config: { apiToken: "legacy-test" },
      registry,
      store,
      agents: createMemoryAgentDirectory(),
      enrollments: createMemoryEnrollments(),
      apiTokens: createMemoryApiTokens(),
      ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
      log,
      consensus: {
        status: async () => undefined,
        outageStore,
        latencyBuckets: (q) => outageStore.latencyBuckets(q),
        history: { identities, results: store },
        // As main.ts wires it.
        lookupCheck: async (id) => {
          const record = await registry.get(id);
          return record ? { ...policyFromCheck(record.check), createdAt: record.createdAt } : undefined;
        },
      },
    });

    // Stored before the upgrade, without a uid: two results (so two rollup rows), an outage, and the
    // identity record an earlier release wrote for the uid-less check.
    const uid = (await registry.get("legacy"))?.check.uid ?? "";
    await store.insertResults([
      row("old-1", "legacy", "", BORN + 10 * MIN, { state: "down", reason: "connect", httpStatus: 0 }),
      row("old-2", "legacy", "", BORN + 20 * MIN, { region: "us-east", agentId: "agent-us" }),
      row("new-1", "legacy", uid, NOW - 10 * MIN),
    ]);
    await outageStore.saveOutages([uidlessOutage("out-old", "legacy", BORN + 10 * MIN)]);
    await identities.record({
      checkId: "legacy",
      uid: "",
      type: "http",
      target: "http://127.0.0.1:9/",
      createdAt: BORN,
      deletedAt: null,
    });

    // A check created after uids (random uid) under an id whose earlier, uid-less check left rows.
    // The rows are dated after its creation so that only their uid keeps them out.
    await registry.create(
      validateCheck(
        { id: "fresh", type: "http", intervalMs: 60_000, timeoutMs: 500, http: { url: "http://127.0.0.1:9/" } },
        { mode: "create" },
      ),
    );
    const fresh = await registry.get("fresh");
    const at = Math.max(fresh?.createdAt ?? NOW, NOW - 5 * MIN) + 1;
    await store.insertResults([row("ghost-1", "fresh", "", at, { state: "down", reason: "connect" })]);
    const ghost = uidlessOutage("out-ghost", "fresh", at);
    await outageStore.saveOutages([{ ...ghost, state: "open", resolvedAt: null }]);
  }, 60_000);

  afterAll(async () => {
    await registry?.stop();
    await nc?.close();
    await store?.close();
    await Promise.all([ch?.dispose(), nats?.dispose()]);
  });

  const get = async <T>(path: string): Promise<T> => {
    const res = await app.request(path, auth);
    expect(res.status, `${path}: ${res.status}`).toBe(200);
    return (await res.json()) as T;
  };

  it("shows the upgraded check's results, incidents, history, availability, latency and replay stored without a uid", async () => {
    const { uid } = await get<{ uid: string }>("/v1/checks/legacy");
    expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const results = await get<{ id: string; checkUid: string }[]>(`/v1/checks/legacy/results?from=${BORN}`);
    expect(results.map((r) => [r.id, r.checkUid])).toEqual([
      ["new-1", uid],
      ["old-2", ""],
      ["old-1", ""],
    ]);

    const outages = await get<{ id: string }[]>("/v1/outages?checkId=legacy");
    expect(outages.map((o) => o.id)).toEqual(["out-old"]);

    // The identity recorded without a uid is the live check: listed once, under its uid.
    const list = await get<{ identities: { uid: string; current: boolean; target: string }[] }>(
      "/v1/checks/legacy/history",
    );
    expect(list.identities).toEqual([expect.objectContaining({ uid, current: true, target: "http://127.0.0.1:9/" })]);
    const history = await get<{ results: { id: string }[]; outages: { id: string }[] }>(
      `/v1/checks/legacy/history?uid=${uid}&from=${BORN}`,
    );
    expect(history.results.map((r) => r.id)).toEqual(["new-1", "old-2", "old-1"]);
    expect(history.outages.map((o) => o.id)).toEqual(["out-old"]);

    // Rollups and incidents: availability counts every result, and the outage.
    const report = await get<{
      outages: number;
      regions: Record<string, { results: { total: number; down: number } }>;
    }>(`/v1/checks/legacy/availability?from=${BORN}&to=${NOW}`);
    expect(report.outages).toBe(1);
    expect(report.regions["eu-west"]?.results).toMatchObject({ total: 2, down: 1 });
    expect(report.regions["us-east"]?.results).toMatchObject({ total: 1, down: 0 });

    const latency = await get<{ buckets: { total: number }[] }>("/v1/checks/legacy/latency?window=24h");
    expect(latency.buckets.reduce((n, b) => n + b.total, 0)).toBe(3);

    // A replay of its policy is fed the results stored without a uid too.
    const replayed = await app.request("/v1/checks/legacy/replay", {
      method: "POST",
      body: JSON.stringify({ from: BORN, to: NOW }),
      headers: { ...auth.headers, "content-type": "application/json" },
    });
    expect(replayed.status).toBe(200);
    expect(await replayed.json()).toMatchObject({ results: 3, stored: [expect.objectContaining({ id: "out-old" })] });
  });

  it("never shows a check created after uids the rows an earlier check of its id stored without a uid", async () => {
    const { uid } = await get<{ uid: string }>("/v1/checks/fresh");
    expect(await get(`/v1/checks/fresh/results?from=0`)).toEqual([]);
    expect(await get("/v1/outages?checkId=fresh")).toEqual([]);
    const history = await get<{ results: unknown[]; outages: unknown[] }>(`/v1/checks/fresh/history?uid=${uid}&from=0`);
    expect(history).toMatchObject({ results: [], outages: [] });
    const report = await get<{ outages: number; regions: Record<string, { results: { total: number } }> }>(
      `/v1/checks/fresh/availability?from=0&to=${NOW + MIN}`,
    );
    expect(report.outages).toBe(0);
    expect(Object.values(report.regions).map((r) => r.results.total)).toEqual([]);
    expect(await get<{ buckets: unknown[] }>("/v1/checks/fresh/latency?window=1h")).toMatchObject({ buckets: [] });
  });
});
