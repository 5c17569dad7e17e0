import { pino } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { normalizePolicy } from "../consensus/policy.js";
import { all, sim, type Sim } from "../consensus/simulation.js";
import type { CheckPolicy, Observation, Outage } from "../consensus/types.js";
import type { OutageQuery, OutageStore, RegionCounts } from "../store/outages.js";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { legacyUid } from "../registry/legacy-uid.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createApi } from "./app.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { UnavailableError } from "../errors.js";
import type { ConsensusRoutesOptions } from "./consensus-routes.js";

const TOKEN = "consensus-api-token";
const auth = { authorization: `Bearer ${TOKEN}` };
const R3 = ["eu-west", "us-east", "ap-south"];
const H = 3_600_000;
const log = pino({ level: "silent" });

/** An in-memory OutageStore with the same filter semantics as the ClickHouse one. */
function memoryStore(
  outages: Outage[],
  observations: Observation[] = [],
  counts: RegionCounts[] = [],
  /** Which [start, end) each region reported in: every bucket of a region with results when absent. */
  reported?: Record<string, [number, number][]>,
) {
  const queries: OutageQuery[] = [];
  const store: Pick<OutageStore, "listOutages" | "resultCounts" | "loadObservations" | "observedBuckets"> = {
    async observedBuckets({ from, to, bucketMs }) {
      const out = new Map<string, number[]>();
      const spans =
        reported ?? Object.fromEntries(counts.filter((c) => c.total > 0).map((c) => [c.region, [[0, Infinity]]]));
      for (const [region, list] of Object.entries(spans)) {
        const buckets: number[] = [];
        for (let b = Math.floor(from / bucketMs) * bucketMs; b < to; b += bucketMs)
          if (list.some(([s, e]) => b + bucketMs > s && b < e)) buckets.push(b);
        out.set(region, buckets);
      }
      return out;
    },
    async listOutages(q) {
      queries.push(q);
      return outages
        .filter((o) => (q.kinds ?? ["outage", "partial"]).includes(o.kind))
        .filter((o) => q.checkId === undefined || o.checkId === q.checkId)
        .filter((o) => q.state === undefined || o.state === q.state)
        .filter((o) => q.to === undefined || o.startedAt < q.to)
        .filter((o) => q.from === undefined || o.resolvedAt === null || o.resolvedAt >= q.from)
        .sort((a, b) => b.startedAt - a.startedAt)
        .slice(0, q.limit ?? 1000);
    },
    async resultCounts() {
      return counts;
    },
    async loadObservations({ checkId, from, to, limit }) {
      const list = observations
        .filter((o) => o.checkId === checkId && o.startedAt >= from && o.startedAt < to)
        .sort((a, b) => a.startedAt - b.startedAt);
      return { observations: list.slice(0, limit), truncated: list.length > limit };
    },
  };
  return { store, queries };
}

/** The parts of the JSON response bodies these tests read. */
interface RegionJson {
  since: number | null;
  lastResultAt: number | null;
  impairedReason?: string;
  agents: unknown[];
  results?: unknown;
}
interface StatusJson {
  state: string;
  regions: Record<string, RegionJson>;
  outage: Outage | null;
}
interface AvailabilityJson {
  availability: number | null;
  noDataMs: number;
  windowMs: number;
  downtimeMs: number;
  slo: unknown;
  regions: Record<string, RegionJson>;
}
interface ReplayJson {
  policy: { failureThreshold: number; quorum: CheckPolicy["quorum"] };
  currentPolicy: { failureThreshold: number };
  outages: Outage[];
  stored: Outage[];
  availability: unknown;
  truncated: boolean;
  results: number;
  to: number;
}
interface ErrorJson {
  error: { code: string; details: { field?: string; problems: { field: string }[] } };
}

function outage(over: Partial<Outage>): Outage {
  return {
    id: "outage:web:1",
    checkId: "web",
    kind: "outage",
    state: "resolved",
    startedAt: 0,
    confirmedAt: 0,
    resolvedAt: 0,
    regions: ["eu-west", "us-east"],
    reason: "connect",
    ...over,
  };
}

describe("consensus API", () => {
  let s: Sim;
  let policies: Map<string, CheckPolicy>;
  const NOW = 100 * H;

  function app(
    store = memoryStore([]).store,
    extra: { maxReplayResults?: number; status?: ConsensusRoutesOptions["status"] } = {},
  ) {
    return createApi({
      config: { apiToken: TOKEN },
      enrollments: createMemoryEnrollments(),
      apiTokens: createMemoryApiTokens(),
      registry: createMemoryRegistry({ log }),
      store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
      agents: createMemoryAgentDirectory({}),
      ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
      log,
      now: () => NOW,
      consensus: { engine: s.engine, outageStore: store, lookupCheck: async (id) => policies.get(id), ...extra },
    });
  }

  beforeEach(() => {
    const web = normalizePolicy({ checkId: "web", intervalMs: 10_000, timeoutMs: 2_000, regions: R3 });
    policies = new Map([["web", web]]);
    s = sim([web], {}, NOW - 10 * 60_000);
  });

  describe("GET /v1/checks/:id/status", () => {
    it("says down with each region's state, since, last result and the open outage", async () => {
      s.round("web", all(R3, "up"));
      for (let k = 0; k < 2; k++)
        s.round("web", { "eu-west": "down", "us-east": { state: "down", reason: "timeout" }, "ap-south": "up" });
      const res = await app().request("/v1/checks/web/status", { headers: auth });
      expect(res.status).toBe(200);
      const body = (await res.json()) as StatusJson;
      expect(body.state).toBe("down");
      expect(body.regions["eu-west"]).toMatchObject({ state: "down", impaired: false, reason: "connect" });
      expect(body.regions["eu-west"]?.since).toBeGreaterThan(0);
      expect(body.regions["eu-west"]?.lastResultAt).toBeGreaterThan(0);
      expect(body.regions["ap-south"]).toMatchObject({ state: "up", impaired: false });
      expect(body.regions["us-east"]?.agents).toEqual([
        expect.objectContaining({ agentId: "agent-us-east", state: "down", fresh: true, impaired: false }),
      ]);
      expect(body.outage).toMatchObject({
        kind: "outage",
        state: "open",
        checkId: "web",
        regions: ["eu-west", "us-east"],
        resolvedAt: null,
      });
      expect(Object.keys(body.outage ?? {}).sort()).toEqual([
        "checkId",
        "checkUid",
        "confirmedAt",
        "id",
        "kind",
        "reason",
        "regions",
        "resolvedAt",
        "startedAt",
        "state",
        "suppressed",
      ]);
    });

    it("unknown with every configured region before any result; 404 for an unknown check, 400 for a bad id", async () => {
      policies.set("fresh", normalizePolicy({ checkId: "fresh", regions: ["eu-west"] }));
      const res = await app().request("/v1/checks/fresh/status", { headers: auth });
      expect(await res.json()).toEqual({
        checkId: "fresh",
        state: "unknown",
        reason: "quorum unreachable",
        missingRegions: ["eu-west"],
        since: null,
        regions: { "eu-west": { state: "unknown", since: null, lastResultAt: null, impaired: false, agents: [] } },
        outage: null,
      });
      const missing = await app().request("/v1/checks/nope/status", { headers: auth });
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ error: { code: "not_found" } });
      const bad = await app().request("/v1/checks/BAD!/status", { headers: auth });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: "invalid_argument", details: { field: "id" } } });
    });

    it("a status forwarded from the partition's owner (a JSON round trip) reads as the local one; 503 when no owner answers", async () => {
      s.round("web", all(R3, "up"));
      for (let k = 0; k < 2; k++) s.round("web", { "eu-west": "down", "us-east": "down", "ap-south": "up" });
      const local = await (await app().request("/v1/checks/web/status", { headers: auth })).json();
      const asked: string[] = [];
      const forwarded = app(undefined, {
        status: async (id) => {
          asked.push(id);
          return JSON.parse(JSON.stringify(s.engine.status(id) ?? null)) ?? undefined;
        },
      });
      const res = await forwarded.request("/v1/checks/web/status", { headers: auth });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(local);
      expect(asked).toEqual(["web"]);
      const down = app(undefined, {
        status: async () => {
          throw new UnavailableError(
            'status of check "web" (partition 3) unavailable: no control-plane replica owns partition 3 now',
          );
        },
      });
      const unavailable = await down.request("/v1/checks/web/status", { headers: auth });
      expect(unavailable.status).toBe(503);
      expect(await unavailable.json()).toMatchObject({
        error: { code: "unavailable", message: expect.stringContaining("partition 3") },
      });
      // Unknown checks are still 404, without asking anyone.
      expect((await down.request("/v1/checks/nope/status", { headers: auth })).status).toBe(404);
    });

    it("says which region abstains because its agent is impaired, and why", async () => {
      const ids = ["c1", "c2", "c3", "c4", "c5"];
      for (const id of ids) {
        const p = normalizePolicy({ checkId: id, intervalMs: 10_000, timeoutMs: 2_000, regions: R3 });
        policies.set(id, p);
        s.engine.upsertCheck(p);
      }
      for (let k = 0; k < 3; k++) s.roundMany(ids, { "eu-west": "down", "us-east": "up", "ap-south": "up" });
      const body = (await (await app().request("/v1/checks/c1/status", { headers: auth })).json()) as StatusJson;
      expect(body.state).toBe("up");
      expect(body.regions["eu-west"]).toMatchObject({ state: "unknown", impaired: true });
      expect(body.regions["eu-west"]?.impairedReason).toMatch(
        /agent-eu-west impaired: 5 of 5 checks failing while other regions see them up/,
      );
    });
  });

  describe("GET /v1/outages", () => {
    const list = [
      outage({ id: "a", startedAt: 1000, confirmedAt: 1100, resolvedAt: 5000 }),
      outage({
        id: "b",
        kind: "partial",
        state: "open",
        startedAt: 8000,
        confirmedAt: 8100,
        resolvedAt: null,
        regions: ["eu-west"],
      }),
      outage({ id: "c", checkId: "db", startedAt: 2000, confirmedAt: 2100, resolvedAt: 3000 }),
      outage({ id: "r", kind: "region", startedAt: 900, confirmedAt: 950, resolvedAt: 5000, regions: ["eu-west"] }),
    ];

    it("lists outages and partials newest first in the issue's shape, with filters", async () => {
      const { store, queries } = memoryStore(list);
      const res = await app(store).request("/v1/outages", { headers: auth });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Outage[];
      expect(body.map((o) => o.id)).toEqual(["b", "c", "a"]);
      expect(body[0]).toEqual({
        id: "b",
        checkId: "web",
        kind: "partial",
        state: "open",
        startedAt: 8000,
        confirmedAt: 8100,
        resolvedAt: null,
        regions: ["eu-west"],
        reason: "connect",
        checkUid: "",
        suppressed: false,
      });
      const web = (await (
        await app(store).request("/v1/outages?checkId=web&state=resolved", { headers: auth })
      ).json()) as Outage[];
      expect(web.map((o) => o.id)).toEqual(["a"]);
      const windowed = (await (
        await app(store).request("/v1/outages?from=4000&to=9000", { headers: auth })
      ).json()) as Outage[];
      expect(windowed.map((o) => o.id)).toEqual(["b", "a"]);
      const regions = (await (
        await app(store).request("/v1/outages?kind=region", { headers: auth })
      ).json()) as Outage[];
      expect(regions.map((o) => o.id)).toEqual(["r"]);
      expect(queries.at(-2)).toMatchObject({ from: 4000, to: 9000, kinds: ["outage", "partial"], limit: 1000 });
    });

    it("400 listing every bad parameter; nothing reaches the store", async () => {
      const { store, queries } = memoryStore(list);
      const res = await app(store).request(
        "/v1/outages?checkId=x'%20OR%201&from=abc&state=closed&kind=all&limit=0&color=red",
        { headers: auth },
      );
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; details: { problems: { field: string }[] } } };
      expect(body.error.code).toBe("invalid_argument");
      expect(body.error.details.problems.map((p) => p.field).sort()).toEqual([
        "checkId",
        "color",
        "from",
        "kind",
        "limit",
        "state",
      ]);
      expect(queries).toEqual([]);
    });
  });

  describe("GET /v1/checks/:id/availability", () => {
    it("global from confirmed outages, per region from region intervals, with results from the rollups", async () => {
      const store = memoryStore(
        [
          // 36 s of outage 2 h ago; eu-west was down for 6 min around it.
          outage({
            id: "o1",
            startedAt: NOW - 2 * H,
            confirmedAt: NOW - 2 * H + 1000,
            resolvedAt: NOW - 2 * H + 36_000,
          }),
          outage({
            id: "p1",
            kind: "partial",
            startedAt: NOW - 3 * H,
            confirmedAt: NOW - 3 * H,
            resolvedAt: NOW - 3 * H + 60_000,
            regions: ["eu-west"],
          }),
          outage({
            id: "re",
            kind: "region",
            startedAt: NOW - 2 * H - 60_000,
            confirmedAt: NOW - 2 * H,
            resolvedAt: NOW - 2 * H + 300_000,
            regions: ["eu-west"],
          }),
          outage({ id: "old", startedAt: NOW - 48 * H, confirmedAt: NOW - 48 * H, resolvedAt: NOW - 47 * H }),
        ],
        [],
        [
          { region: "eu-west", total: 8640, up: 8600, degraded: 4, down: 36, avgDurationMs: 12.5 },
          { region: "us-east", total: 8640, up: 8640, degraded: 0, down: 0, avgDurationMs: 30 },
        ],
      );
      const res = await app(store.store).request("/v1/checks/web/availability?window=24h", { headers: auth });
      expect(res.status).toBe(200);
      const body = (await res.json()) as AvailabilityJson;
      expect(body).toMatchObject({
        checkId: "web",
        from: NOW - 24 * H,
        to: NOW,
        windowMs: 24 * H,
        downtimeMs: 36_000,
        outages: 1,
        mttrMs: 36_000,
        mtbfMs: null,
      });
      expect(body.availability).toBeCloseTo(100 * (1 - 36_000 / (24 * H)), 6);
      expect(body.slo).toMatchObject({
        target: 99.9,
        met: true,
        errorBudgetMs: 86_400,
        errorBudgetRemainingMs: 50_400,
      });
      expect(Object.keys(body.regions)).toEqual(["ap-south", "eu-west", "us-east"]);
      expect(body.regions["eu-west"]).toMatchObject({ downtimeMs: 360_000, outages: 1 });
      expect(body.regions["eu-west"]?.results).toEqual({
        total: 8640,
        up: 8600,
        degraded: 4,
        down: 36,
        successRatio: 8604 / 8640,
        avgDurationMs: 12.5,
      });
      // ap-south stored nothing: no data, neither up nor down.
      expect(body.regions["ap-south"]).toMatchObject({
        downtimeMs: 0,
        noDataMs: 24 * H,
        availability: null,
        results: { total: 0, successRatio: null },
      });
      expect(body.noDataMs).toBe(0);
    });

    it("counts only observed time: a check down since its creation 20 s ago is not 99 % available", async () => {
      const created = NOW - 20_000;
      policies.set("web", { ...policies.get("web")!, createdAt: created } as CheckPolicy);
      const store = memoryStore(
        [
          outage({
            id: "o",
            state: "open",
            startedAt: created + 1_000,
            confirmedAt: created + 2_500,
            resolvedAt: null,
          }),
        ],
        [],
        R3.map((region) => ({ region, total: 20, up: 0, degraded: 0, down: 20, avgDurationMs: 5 })),
      );
      const body = (await (
        await app(store.store).request("/v1/checks/web/availability?window=1h", { headers: auth })
      ).json()) as AvailabilityJson;
      // The window starts at creation; the second before the first failure is up.
      expect(body).toMatchObject({ from: created, windowMs: 20_000, noDataMs: 0, downtimeMs: 19_000 });
      expect(body.availability).toBeLessThan(50);
    });

    it("time without enough regions reporting is no data: excluded, and down time inside it is not counted", async () => {
      // Only the first half of the day had results from a quorum; an outage spans the boundary.
      const half = NOW - 12 * H;
      const store = memoryStore(
        [outage({ id: "o", startedAt: half - H, confirmedAt: half - H, resolvedAt: half + H })],
        [],
        [],
        { "eu-west": [[0, half]], "us-east": [[0, half]], "ap-south": [[0, NOW]] },
      );
      const body = (await (
        await app(store.store).request("/v1/checks/web/availability?window=24h", { headers: auth })
      ).json()) as AvailabilityJson;
      expect(body.noDataMs).toBe(12 * H);
      expect(body.downtimeMs).toBe(H);
      expect(body.availability).toBeCloseTo(100 * (1 - 1 / 12), 6);
      expect(body.regions["ap-south"]).toMatchObject({ noDataMs: 0, availability: 100 });
    });

    it("takes from/to and an SLO target; rejects window together with from/to", async () => {
      const reporting = memoryStore(
        [],
        [],
        R3.map((region) => ({ region, total: 1, up: 1, degraded: 0, down: 0, avgDurationMs: 1 })),
      );
      const res = await app(reporting.store).request(
        `/v1/checks/web/availability?from=${NOW - H}&to=${NOW}&slo=99.99`,
        { headers: auth },
      );
      expect(await res.json()).toMatchObject({ from: NOW - H, to: NOW, slo: { target: 99.99, errorBudgetMs: 360 } });
      // Nothing observed: no availability figure, and no error budget to spend.
      const silent = await app().request(`/v1/checks/web/availability?from=${NOW - H}&to=${NOW}`, { headers: auth });
      expect(await silent.json()).toMatchObject({
        noDataMs: H,
        availability: null,
        slo: { errorBudgetMs: 0, met: true },
      });
      const both = await app().request(`/v1/checks/web/availability?window=7d&from=1`, { headers: auth });
      expect(both.status).toBe(400);
      const badWindow = await app().request(`/v1/checks/web/availability?window=1y`, { headers: auth });
      expect(((await badWindow.json()) as ErrorJson).error.details.field).toBe("window");
      expect((await app().request("/v1/checks/nope/availability", { headers: auth })).status).toBe(404);
    });
  });

  describe("POST /v1/checks/:id/replay", () => {
    const I = 10_000;
    function history(): Observation[] {
      const out: Observation[] = [];
      const start = NOW - 40 * I;
      for (let k = 0; k < 40; k++) {
        R3.forEach((region, i) => {
          const down = k >= 10 && k <= 14 && region !== "ap-south";
          out.push({
            checkId: "web",
            agentId: `a-${region}`,
            region,
            startedAt: start + k * I + i * 100,
            durationMs: 20,
            state: down ? "down" : "up",
            reason: down ? "http_status" : "",
            canary: false,
          });
        });
      }
      return out;
    }
    const post = (
      a: ReturnType<typeof app>,
      body: unknown,
      headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
    ) =>
      a.request("/v1/checks/web/replay", {
        method: "POST",
        body: typeof body === "string" ? body : JSON.stringify(body),
        headers: { "content-type": "application/json", ...headers },
      });

    it("returns the outages the current and another policy would have declared", async () => {
      const stored = [
        outage({ id: "stored", startedAt: NOW - 30 * I, confirmedAt: NOW - 29 * I, resolvedAt: NOW - 24 * I }),
      ];
      const { store } = memoryStore(stored, history());
      const res = await post(app(store), { from: NOW - 40 * I, to: NOW });
      expect(res.status).toBe(200);
      const body = (await res.json()) as ReplayJson;
      expect(body).toMatchObject({ checkId: "web", from: NOW - 40 * I, to: NOW, truncated: false, results: 120 });
      expect(body.policy).toEqual({
        intervalMs: 10_000,
        timeoutMs: 2_000,
        regions: ["ap-south", "eu-west", "us-east"],
        failureThreshold: 2,
        recoveryThreshold: 2,
        quorum: "majority",
      });
      const outages = body.outages.filter((o) => o.kind === "outage");
      expect(outages).toHaveLength(1);
      expect(outages[0]).toMatchObject({
        startedAt: NOW - 30 * I,
        regions: ["eu-west", "us-east"],
        reason: "http_status",
        state: "resolved",
      });
      expect(body.availability).toMatchObject({ outages: 1 });
      expect(body.stored.map((o: Outage) => o.id)).toEqual(["stored"]);

      const strict = (await (
        await post(app(store), { from: NOW - 40 * I, to: NOW, policy: { failureThreshold: 6 } })
      ).json()) as ReplayJson;
      expect(strict.outages.filter((o: Outage) => o.kind === "outage")).toEqual([]);
      expect(strict.policy.failureThreshold).toBe(6);
      expect(strict.currentPolicy.failureThreshold).toBe(2);
      const all3 = (await (
        await post(app(store), { from: NOW - 40 * I, to: NOW, policy: { quorum: "all" } })
      ).json()) as ReplayJson;
      expect(all3.outages.map((o: Outage) => o.kind)).toEqual(expect.not.arrayContaining(["outage"]));
      expect(all3.policy.quorum).toBe("all");
    });

    it("replays a check stored before uids over its results stored without a uid", async () => {
      const created = NOW - 50 * I;
      policies.set("web", {
        ...policies.get("web")!,
        checkUid: legacyUid("web", created),
        createdAt: created,
      } as CheckPolicy);
      const { store } = memoryStore(
        [],
        history().map((o) => ({ ...o, checkUid: "" })),
      );
      const body = (await (await post(app(store), { from: NOW - 40 * I, to: NOW })).json()) as ReplayJson;
      expect(body.results).toBe(120);
      expect(body.outages.filter((o) => o.kind === "outage")).toHaveLength(1);
    });

    it("stops early when the window holds more results than allowed, and says so", async () => {
      const { store } = memoryStore([], history());
      const res = await post(app(store, { maxReplayResults: 30 }), { from: NOW - 40 * I, to: NOW });
      const body = (await res.json()) as ReplayJson;
      expect(body.truncated).toBe(true);
      expect(body.results).toBe(30);
      expect(body.to).toBeLessThan(NOW);
    });

    it("401 without the token, 404 for an unknown check, 400 listing every bad field", async () => {
      const a = app();
      expect((await post(a, { from: 1, to: 2 }, {})).status).toBe(401);
      expect(
        (
          await a.request("/v1/checks/nope/replay", {
            method: "POST",
            body: "{}",
            headers: { authorization: `Bearer ${TOKEN}` },
          })
        ).status,
      ).toBe(404);
      const bad = await post(a, {
        from: "yesterday",
        to: 5,
        policy: { failureThreshold: 0, quorum: "most", regions: ["eu west"], colour: 1 },
        extra: true,
      });
      expect(bad.status).toBe(400);
      const fields = ((await bad.json()) as ErrorJson).error.details.problems.map((p) => p.field).sort();
      expect(fields).toEqual([
        "extra",
        "from",
        "policy.colour",
        "policy.failureThreshold",
        "policy.quorum",
        "policy.regions",
      ]);
      expect((await post(a, "{not json")).status).toBe(400);
      expect((await post(a, { from: 0, to: 40 * 86_400_000 })).status).toBe(400);
    });
  });
});
