import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import type { Outage } from "../consensus/types.js";
import { legacyUid } from "../registry/legacy-uid.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { CheckIdentity } from "../store/check-identities.js";
import type { ResultQuery, ResultRow } from "../store/types.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createApi } from "./app.js";

const log = pino({ level: "silent" });
const now = 10_000_000;
const auth = { headers: { authorization: "Bearer t" } };

function setup(identities: CheckIdentity[], live?: { uid: string; createdAt: number }) {
  const queries: ResultQuery[] = [];
  const outageQueries: unknown[] = [];
  const app = createApi({
    config: { apiToken: "t" },
    registry: createMemoryRegistry({ log }),
    store: {
      insertResults: async () => {},
      queryResults: async (q) => (
        queries.push(q),
        [{ id: "r", checkId: "web", checkUid: q.checkUids?.[0] } as ResultRow]
      ),
      ping: async () => true,
    },
    agents: createMemoryAgentDirectory(),
    enrollments: createMemoryEnrollments(),
    apiTokens: createMemoryApiTokens(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    now: () => now,
    consensus: {
      engine: { status: () => undefined },
      outageStore: {
        listOutages: async (q) => {
          outageQueries.push(q);
          return [{ id: "o", checkId: "web", checkUid: "u1", state: "abandoned" } as Outage];
        },
        resultCounts: async () => [],
        loadObservations: async () => ({ observations: [], truncated: false }),
        observedBuckets: async () => new Map(),
      },
      lookupCheck: async (id) =>
        id === "web" && live
          ? {
              checkId: "web",
              checkUid: live.uid,
              createdAt: live.createdAt,
              dependsOn: [],
              intervalMs: 1000,
              timeoutMs: 500,
              regions: [],
              failureThreshold: 2,
              recoveryThreshold: 2,
              quorum: "majority",
              canary: false,
              sinceVersion: 0,
              notBefore: 0,
            }
          : undefined,
      history: {
        identities: { list: async () => identities },
        results: { queryResults: async (q) => (queries.push(q), []) },
      },
    },
  });
  return { app, queries, outageQueries };
}

const u1: CheckIdentity = {
  checkId: "web",
  uid: "u1",
  type: "http",
  target: "http://a/",
  createdAt: 1000,
  deletedAt: 5_000_000,
};

describe("GET /v1/checks/:id/history", () => {
  it("lists the identities of an id, the live one marked current (added when not recorded)", async () => {
    const { app } = setup([u1], { uid: "u2", createdAt: 6_000_000 });
    const res = await app.request("/v1/checks/web/history", auth);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      checkId: "web",
      identities: [
        { uid: "u2", type: "", target: "", createdAt: 6_000_000, deletedAt: null, current: true },
        { uid: "u1", type: "http", target: "http://a/", createdAt: 1000, deletedAt: 5_000_000, current: false },
      ],
    });
  });

  it("with uid: that identity's results (window ending at its deletion) and incidents", async () => {
    const { app, queries, outageQueries } = setup([u1]);
    const res = await app.request("/v1/checks/web/history?uid=u1&limit=10", auth);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { identity: { uid: string }; outages: { id: string; checkUid: string }[] };
    expect(body.identity.uid).toBe("u1");
    expect(body.outages).toEqual([expect.objectContaining({ id: "o", checkUid: "u1", suppressed: false })]);
    expect(queries).toEqual([
      { checkId: "web", checkUids: ["u1"], from: 5_000_001 - 3_600_000, to: 5_000_001, limit: 10 },
    ]);
    expect(outageQueries).toEqual([expect.objectContaining({ checkId: "web", checkUids: ["u1"] })]);
  });

  it("shows an identity recorded without a uid as its legacy uid, once, and reads its rows without a uid too", async () => {
    const born = 2_000;
    const legacy = legacyUid("web", born);
    const uidless: CheckIdentity = { ...u1, uid: "", createdAt: born, deletedAt: null };
    // Live under its legacy uid, recorded only without one: listed once, current.
    const { app, queries, outageQueries } = setup([uidless], { uid: legacy, createdAt: born });
    expect(await (await app.request("/v1/checks/web/history", auth)).json()).toEqual({
      checkId: "web",
      identities: [{ uid: legacy, type: "http", target: "http://a/", createdAt: born, deletedAt: null, current: true }],
    });
    expect((await app.request(`/v1/checks/web/history?uid=${legacy}`, auth)).status).toBe(200);
    expect(queries[0]?.checkUids).toEqual([legacy, ""]);
    expect(outageQueries).toEqual([expect.objectContaining({ checkUids: [legacy, ""] })]);
    // Recorded both ways (replaced after the upgrade): its own record wins; a later check of the id
    // (random uid) never reads the rows without a uid.
    const recorded = { ...uidless, uid: legacy, target: "http://b/" };
    const later = setup([{ ...u1, uid: "u3", createdAt: 9_000 }, recorded, uidless]);
    const list = (await (await later.app.request("/v1/checks/web/history", auth)).json()) as {
      identities: { uid: string; target: string }[];
    };
    expect(list.identities.map((i) => [i.uid, i.target])).toEqual([
      ["u3", "http://a/"],
      [legacy, "http://b/"],
    ]);
    expect((await later.app.request("/v1/checks/web/history?uid=u3", auth)).status).toBe(200);
    expect(later.queries[0]?.checkUids).toEqual(["u3"]);
  });

  it("404 for an id that never existed or a uid it never had; 400 for a bad uid", async () => {
    expect((await setup([]).app.request("/v1/checks/web/history", auth)).status).toBe(404);
    expect((await setup([u1]).app.request("/v1/checks/web/history?uid=u9", auth)).status).toBe(404);
    expect((await setup([u1]).app.request("/v1/checks/web/history?uid=a%20b", auth)).status).toBe(400);
  });
});
