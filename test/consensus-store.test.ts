// Outages, rollups and engine warm-up against a real clickhouse-server 18.16 (migrations 001-003).
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import {
  availability,
  createCheckIdentityStore,
  createConsensusEngine,
  createOutageStore,
  listMigrations,
  type Observation,
  type Outage,
  type OutageStore,
  runMigrations,
  type SqlExecutor,
  type Transition,
} from "@probemesh/control-plane";
import type { Logger } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";

// A silent logger without depending on pino from the test package.
const log = new Proxy({}, { get: (_t, key) => (key === "child" ? () => log : () => undefined) }) as unknown as Logger;
const DB = "probemesh";
const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);

function executor(client: ClickHouseClient): SqlExecutor {
  return {
    async command(statement) {
      await client.command({ query: statement });
    },
    async query<T>(statement: string) {
      const rs = await client.query({ query: statement, format: "JSONEachRow" });
      return await rs.json<T>();
    },
  };
}

interface RawResult {
  id: string;
  check_id: string;
  agent_id: string;
  region: string;
  started_at: number;
  duration_ms: number;
  state: string;
  reason: string;
  canary: number;
}

function result(
  id: string,
  checkId: string,
  region: string,
  startedAt: number,
  state: "up" | "degraded" | "down",
): RawResult {
  return {
    id,
    check_id: checkId,
    agent_id: `agent-${region}`,
    region,
    started_at: startedAt,
    duration_ms: 10,
    state,
    reason: state === "down" ? "connect" : "",
    canary: 0,
  };
}

describe("outage store and rollups on ClickHouse 18.16", () => {
  let ch: ClickHouseServer;
  let admin: ClickHouseClient;
  let client: ClickHouseClient;
  let store: OutageStore;

  async function insertResults(rows: RawResult[]): Promise<void> {
    await client.insert({ table: "results", values: rows, format: "JSONEachRow" });
  }

  beforeAll(async () => {
    ch = await startClickHouse();
    admin = createClient({ url: ch.url });
    client = createClient({ url: ch.url, database: DB });
    const migrate = () =>
      runMigrations({ admin: executor(admin), db: executor(client), database: DB, log, now: Date.now });
    expect(await migrate()).toEqual([1, 2, 3]);
    // Idempotent: a second control plane starting later applies nothing.
    expect(await migrate()).toEqual([]);
    store = createOutageStore({ client, log });
  });

  afterAll(async () => {
    await client?.close();
    await admin?.close();
    await ch?.dispose();
  });

  it("keeps the newest version of an incident: open, then resolved", async () => {
    const open: Outage = {
      id: "outage:web:1000",
      checkId: "web",
      kind: "outage",
      state: "open",
      startedAt: 900,
      confirmedAt: 1000,
      resolvedAt: null,
      regions: ["eu-west", "us-east"],
      reason: "connect",
    };
    await store.saveOutages([open]);
    expect(await store.listOutages({ checkId: "web" })).toEqual([open]);
    expect(await store.listOutages({ state: "open" })).toEqual([open]);
    const done: Outage = { ...open, state: "resolved", resolvedAt: 5000, regions: ["ap-south", "eu-west", "us-east"] };
    await store.saveOutages([done]);
    // A late duplicate of the old version (another replica) must not win.
    await store.saveOutages([open]);
    expect(await store.listOutages({ checkId: "web" })).toEqual([done]);
    expect(await store.listOutages({ checkId: "web", state: "open" })).toEqual([]);
    expect(await store.openIncidents()).toEqual([]);
    // Window filters: overlapping [from, to).
    expect(await store.listOutages({ checkId: "web", from: 5001 })).toEqual([]);
    expect(await store.listOutages({ checkId: "web", from: 4000, to: 901 })).toEqual([done]);
    expect(await store.listOutages({ checkId: "web", to: 900 })).toEqual([]);
    // Region intervals are listed only when asked for.
    const region: Outage = { ...open, id: "region:web:eu-west:1000", kind: "region", regions: ["eu-west"] };
    await store.saveOutages([region]);
    expect((await store.listOutages({ checkId: "web" })).map((o) => o.id)).toEqual([done.id]);
    expect((await store.listOutages({ checkId: "web", kinds: ["region"] })).map((o) => o.id)).toEqual([region.id]);
    expect((await store.openIncidents()).map((o) => o.id)).toEqual([region.id]);
    // Hostile values are data, not SQL.
    expect(await store.listOutages({ checkId: "x' OR 1=1 --" })).toEqual([]);
  });

  it("counts results per region from the rollups, across hour boundaries, without double counting", async () => {
    const rows: RawResult[] = [];
    // 3 hours, one result per region every 30 s; eu-west down during the second hour.
    for (let t = T0; t < T0 + 3 * H; t += 30_000) {
      for (const region of ["eu-west", "us-east"]) {
        const down = region === "eu-west" && t >= T0 + H && t < T0 + 2 * H;
        rows.push(result(`r-${region}-${t}`, "roll", region, t, down ? "down" : t % 120_000 === 0 ? "degraded" : "up"));
      }
    }
    // Several inserts (as ingest batches do) land in several parts of the rollups.
    for (let i = 0; i < rows.length; i += 97) await insertResults(rows.slice(i, i + 97));
    const expectCounts = async (from: number, to: number): Promise<void> => {
      const got = await store.resultCounts({ checkId: "roll", from, to });
      for (const region of ["eu-west", "us-east"]) {
        const mine = rows.filter((r) => r.region === region && r.started_at >= from && r.started_at < to);
        expect(
          got.find((g) => g.region === region),
          `${region} ${from - T0}..${to - T0}`,
        ).toEqual({
          region,
          total: mine.length,
          up: mine.filter((r) => r.state === "up").length,
          degraded: mine.filter((r) => r.state === "degraded").length,
          down: mine.filter((r) => r.state === "down").length,
          avgDurationMs: 10,
        });
      }
    };
    await expectCounts(T0, T0 + 3 * H); // whole hours: hourly rollup only
    await expectCounts(T0 + 30 * 60_000, T0 + 150 * 60_000); // minutes at both edges + one full hour
    await expectCounts(T0 + 61 * 60_000, T0 + 62 * 60_000); // inside one hour: minutes only
    // The materialized views really filled both rollups (3 hourly and 180 minute buckets per region).
    const buckets = await ch.rows<{ h: string; m: string }>(
      `SELECT (SELECT count(DISTINCT bucket) FROM ${DB}.rollup_1h WHERE check_id = 'roll') AS h, (SELECT count(DISTINCT bucket) FROM ${DB}.rollup_1m WHERE check_id = 'roll') AS m`,
    );
    expect(buckets[0]).toEqual({ h: "3", m: "180" });
    const summary = await store.resultCounts({ checkId: "roll", from: T0, to: T0 + 3 * H });
    expect(summary.find((s) => s.region === "eu-west")?.down).toBe(120);
  });

  it('upgrades a database of migrations 1-2 (rows keep uid ""), and reads rows by uid', async () => {
    const db = "probemesh_upgrade";
    const c = createClient({ url: ch.url, database: db });
    try {
      const run = (upTo: number) =>
        runMigrations({
          admin: executor(admin),
          db: executor(c),
          database: db,
          log,
          now: Date.now,
          migrations: listMigrations().filter((m) => m.version <= upTo),
        });
      expect(await run(2)).toEqual([1, 2]);
      await c.insert({ table: "results", values: [result("old", "re", "eu-west", T0, "down")], format: "JSONEachRow" });
      expect(await run(3)).toEqual([3]);
      expect(await run(3)).toEqual([]);
      const uidStore = createOutageStore({ client: c, log });
      await c.insert({
        table: "results",
        values: [
          { ...result("u1a", "re", "eu-west", T0 + 1000, "down"), check_uid: "u1" },
          { ...result("u2a", "re", "eu-west", T0 + 2000, "up"), check_uid: "u2" },
          { ...result("u2b", "re", "eu-west", T0 + 3000, "up"), check_uid: "u2" },
        ],
        format: "JSONEachRow",
      });
      const uidsOf = async (checkUid?: string) =>
        (
          await uidStore.loadObservations({
            checkId: "re",
            ...(checkUid !== undefined ? { checkUids: [checkUid] } : {}),
            from: T0,
            to: T0 + H,
            limit: 10,
          })
        ).observations.map((o) => o.checkUid);
      expect(await uidsOf()).toEqual(["", "u1", "u2", "u2"]);
      expect(await uidsOf("")).toEqual([""]);
      expect(await uidsOf("u2")).toEqual(["u2", "u2"]);
      // The new rollups count from the migration on, by uid.
      expect(
        (await uidStore.resultCounts({ checkId: "re", checkUids: ["u2"], from: T0, to: T0 + H }))[0],
      ).toMatchObject({
        total: 2,
        up: 2,
      });
      expect(await uidStore.resultCounts({ checkId: "re", checkUids: ["u1"], from: T0, to: T0 + H })).toMatchObject([
        { total: 1, down: 1 },
      ]);
      const incident = (id: string, checkUid: string, suppressedBy?: string[]): Outage => ({
        id,
        checkId: "re",
        checkUid,
        kind: "outage",
        state: "open",
        startedAt: T0,
        confirmedAt: T0 + 1,
        resolvedAt: null,
        regions: ["eu-west"],
        reason: "connect",
        ...(suppressedBy ? { suppressedBy } : {}),
      });
      await uidStore.saveOutages([incident("o1", "u1"), incident("o2", "u2", ["db"])]);
      expect(await uidStore.listOutages({ checkId: "re", checkUids: ["u2"] })).toEqual([incident("o2", "u2", ["db"])]);
      expect((await uidStore.listOutages({ checkId: "re" })).map((o) => o.id).sort()).toEqual(["o1", "o2"]);

      const identities = createCheckIdentityStore({ client: c, log });
      const base = { checkId: "re", type: "http", target: "http://x/" };
      await identities.record({ ...base, uid: "u1", createdAt: T0, deletedAt: null });
      await identities.record({ ...base, uid: "u1", createdAt: T0, deletedAt: T0 + 5000 });
      await identities.record({ ...base, uid: "u2", createdAt: T0 + 6000, deletedAt: null });
      expect(await identities.list("re")).toEqual([
        { ...base, uid: "u2", createdAt: T0 + 6000, deletedAt: null },
        { ...base, uid: "u1", createdAt: T0, deletedAt: T0 + 5000 },
      ]);
    } finally {
      await c.close();
    }
  });

  it("loads a check's results oldest first, each id once, and the newest few per agent for warm-up", async () => {
    const rows = [
      result("a1", "obs", "eu-west", T0 + 1000, "up"),
      result("a2", "obs", "eu-west", T0 + 2000, "down"),
      result("a3", "obs", "eu-west", T0 + 3000, "down"),
      result("b1", "obs", "us-east", T0 + 1500, "up"),
    ];
    await insertResults(rows);
    await insertResults([rows[1]!]); // a duplicate delivery
    const { observations, truncated } = await store.loadObservations({
      checkId: "obs",
      from: T0,
      to: T0 + 10_000,
      limit: 100,
    });
    expect(truncated).toBe(false);
    expect(observations.map((o) => o.startedAt - T0)).toEqual([1000, 1500, 2000, 3000]);
    expect(observations[2]).toEqual({
      checkId: "obs",
      checkUid: "",
      agentId: "agent-eu-west",
      region: "eu-west",
      startedAt: T0 + 2000,
      durationMs: 10,
      state: "down",
      reason: "connect",
      canary: false,
    });
    const capped = await store.loadObservations({ checkId: "obs", from: T0, to: T0 + 10_000, limit: 2 });
    expect(capped).toMatchObject({ truncated: true });
    expect(capped.observations).toHaveLength(2);
    const recent = (await store.recentObservations({ since: T0, perAgent: 2, limit: 1000 })).filter(
      (o) => o.checkId === "obs",
    );
    expect(recent.map((o) => `${o.region}@${o.startedAt - T0}`)).toEqual([
      "us-east@1500",
      "eu-west@2000",
      "eu-west@3000",
    ]);
  });

  it("an outage opened by the engine survives a ClickHouse and control-plane restart and is resolved once, with the same id", async () => {
    const regions = ["eu-west", "us-east", "ap-south"];
    const base = Date.now() - 10 * 60_000;
    let clock = base;
    const policy = { checkId: "restart", intervalMs: 10_000, timeoutMs: 2_000, regions };
    const persist = async (ts: Transition[]): Promise<void> => {
      await store.saveOutages(ts.flatMap((t) => ("outage" in t ? [t.outage] : [])));
    };
    const engine = createConsensusEngine({ now: () => clock, checks: [policy] });
    const raw: RawResult[] = [];
    let n = 0;
    const round = async (e: typeof engine, state: "up" | "down"): Promise<Transition[]> => {
      const out: Transition[] = [];
      for (const region of regions) {
        const r = result(`restart-${n++}`, "restart", region, clock, state);
        raw.push(r);
        clock += 5;
        const o: Observation = {
          checkId: r.check_id,
          agentId: r.agent_id,
          region,
          startedAt: r.started_at,
          durationMs: 10,
          state,
          reason: r.reason,
          canary: false,
        };
        out.push(...e.observe(o));
      }
      clock += 10_000;
      await insertResults(raw.splice(0));
      await persist(out);
      return out;
    };
    await round(engine, "up");
    await round(engine, "down");
    const opening = await round(engine, "down");
    const opened = opening.find((t) => t.type === "outage.opened");
    expect(opened).toBeDefined();

    await ch.restart();

    // A new control plane: load open incidents and recent results, warm up, continue.
    clock += 1_000;
    const again = createConsensusEngine({ now: () => clock, checks: [policy] });
    const openIncidents = await store.openIncidents();
    const recent = await store.recentObservations({ since: base, perAgent: 5, limit: 10_000 });
    const warm = again.warmUp({ results: recent, openIncidents });
    await persist(warm);
    expect(warm.filter((t) => t.type === "outage.opened")).toEqual([]);
    expect(again.status("restart")?.outage?.id).toBe(opened && "outage" in opened ? opened.outage.id : "");

    await round(again, "up");
    const closing = await round(again, "up");
    const resolved = closing.find((t) => t.type === "outage.resolved");
    expect(resolved && "outage" in resolved ? resolved.outage.id : "").toBe(
      opened && "outage" in opened ? opened.outage.id : "x",
    );
    // The brief partial while the first region crossed its threshold before the others is listed too.
    const stored = await store.listOutages({ checkId: "restart", kinds: ["outage"] });
    expect((await store.listOutages({ checkId: "restart", state: "open" })).length).toBe(0);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ state: "resolved", kind: "outage" });

    // Availability of the check from the stored outages.
    const report = availability(
      stored.map((o) => ({ start: o.startedAt, end: o.resolvedAt })),
      { from: base, to: clock, now: clock },
    );
    expect(report.outages).toBe(1);
    expect(report.downtimeMs).toBe(stored[0]!.resolvedAt! - stored[0]!.startedAt);
    expect(report.availability).toBeLessThan(100);
  });
});
