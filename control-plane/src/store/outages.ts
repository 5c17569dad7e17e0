// Outages (migrations 002, 003), rollup-based result counts, and the result reads the consensus engine needs
// (warm-up after a restart, policy replay). Every value reaches SQL through ./sql.ts.
import type { ClickHouseClient } from "@clickhouse/client";
import type { Logger } from "pino";
import type { IncidentKind, Observation, Outage } from "../consensus/types.js";
import { UnavailableError } from "../errors.js";
import { checkUidIn } from "./row-uids.js";
import { ident, inList, int, joinSql, sql, type Sql } from "./sql.js";

/** Filter of `listOutages`; times are epoch ms. */
export interface OutageQuery {
  checkId?: string;
  /** Only incidents of these uids of the check (one identity's: `rowUidsOf`). @default every uid */
  checkUids?: readonly string[];
  /** Incidents still open at or ending after this instant. */
  from?: number;
  /** Incidents that started before this instant. */
  to?: number;
  state?: Outage["state"];
  /** @default ["outage", "partial"] */
  kinds?: readonly IncidentKind[];
  /** Newest first, at most this many. @default 1000 */
  limit?: number;
}

/** Result counts of one region over a window, read from the rollups. */
export interface RegionCounts {
  region: string;
  total: number;
  up: number;
  degraded: number;
  down: number;
  /** Mean probe duration, 0 without results. */
  avgDurationMs: number;
}

/** Results of one region in one time bucket, read from the rollups. */
export interface LatencyBucket {
  region: string;
  /** Epoch ms the bucket starts. */
  at: number;
  total: number;
  down: number;
  /** Mean probe duration of the bucket's results (failed ones included: the rollups sum every duration). */
  avgDurationMs: number;
}

/** Persistence of incidents and the result reads of the consensus engine. */
export interface OutageStore {
  /** Writes incidents (new or changed); the newest version of each id wins. */
  saveOutages(outages: readonly Outage[]): Promise<void>;
  /** Incidents matching the query, newest first. */
  listOutages(query: OutageQuery): Promise<Outage[]>;
  /** Every open incident of every kind (to warm the engine up after a restart). */
  openIncidents(): Promise<Outage[]>;
  /** Per-region result counts of a check over [from, to), from the hourly and per-minute rollups (minute precision). */
  resultCounts(query: {
    checkId: string;
    checkUids?: readonly string[];
    from: number;
    to: number;
  }): Promise<RegionCounts[]>;
  /**
   * Per region, the starts of the `bucketMs` buckets (a multiple of a minute) of [from, to) in which
   * the region stored at least one result of the check, from the per-minute rollup (observed time
   * for availability).
   */
  observedBuckets(query: {
    checkId: string;
    /** Only rows of these uids of the check (one identity's: `rowUidsOf`). @default every uid */
    checkUids?: readonly string[];
    from: number;
    to: number;
    bucketMs: number;
  }): Promise<Map<string, number[]>>;
  /**
   * Per region and `bucketMs` bucket of [from, to) (a multiple of a minute; of an hour reads the
   * hourly rollup), the result count and mean duration, by time then region; empty buckets absent.
   */
  latencyBuckets(query: {
    checkId: string;
    /** Only rows of these uids of the check (one identity's: `rowUidsOf`). @default every uid */
    checkUids?: readonly string[];
    from: number;
    to: number;
    bucketMs: number;
  }): Promise<LatencyBucket[]>;
  /** Results of one check in [from, to), oldest first, each id once; `truncated` when more than `limit` exist. */
  loadObservations(query: {
    checkId: string;
    /** Only rows of these uids of the check (one identity's: `rowUidsOf`). @default every uid */
    checkUids?: readonly string[];
    from: number;
    to: number;
    limit: number;
  }): Promise<{ observations: Observation[]; truncated: boolean }>;
  /** The newest `perAgent` results of every (check, agent) since `since`, oldest first (engine warm-up). */
  recentObservations(query: { since: number; perAgent: number; limit: number }): Promise<Observation[]>;
}

const KINDS: readonly IncidentKind[] = ["outage", "partial", "region"];
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Version of an incident record: grows open -> more regions -> resolved, derived from its own fields. */
export function outageVersion(o: Outage): number {
  const at = o.resolvedAt ?? o.confirmedAt;
  return at * 1024 + (o.state !== "open" ? 512 : 0) + Math.min(o.regions.length, 511);
}

interface OutageDbRow {
  id: string;
  check_id: string;
  check_uid: string;
  kind: string;
  state: string;
  started_at: number;
  confirmed_at: number;
  resolved_at: number;
  regions: string[];
  reason: string;
  suppressed_by: string[];
  version: number;
}

function toDb(o: Outage): OutageDbRow {
  return {
    id: o.id,
    check_id: o.checkId,
    check_uid: o.checkUid ?? "",
    kind: o.kind,
    state: o.state,
    started_at: o.startedAt,
    confirmed_at: o.confirmedAt,
    resolved_at: o.resolvedAt ?? 0,
    regions: [...o.regions],
    reason: o.reason,
    suppressed_by: [...(o.suppressedBy ?? [])],
    version: outageVersion(o),
  };
}

const num = (v: unknown): number => {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
};
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

function fromDb(r: Record<string, unknown>): Outage {
  const kind = str(r.o_kind);
  const stored = str(r.o_state);
  const state = stored === "resolved" || stored === "abandoned" ? stored : "open";
  const resolvedAt = num(r.o_resolved_at);
  const checkUid = str(r.o_check_uid);
  const suppressedBy = Array.isArray(r.o_suppressed_by) ? r.o_suppressed_by.map(str) : [];
  return {
    id: str(r.id),
    checkId: str(r.o_check_id),
    ...(checkUid !== "" ? { checkUid } : {}),
    kind: (KINDS as readonly string[]).includes(kind) ? (kind as IncidentKind) : "outage",
    state,
    startedAt: num(r.o_started_at),
    confirmedAt: num(r.o_confirmed_at),
    resolvedAt: state !== "open" ? resolvedAt : null,
    regions: Array.isArray(r.o_regions) ? r.o_regions.map(str) : [],
    reason: str(r.o_reason),
    ...(suppressedBy.length > 0 ? { suppressedBy } : {}),
  };
}

function observation(r: Record<string, unknown>): Observation {
  const state = str(r.state);
  return {
    checkId: str(r.check_id),
    checkUid: str(r.check_uid),
    agentId: str(r.agent_id),
    region: str(r.region),
    startedAt: num(r.started_at),
    durationMs: num(r.duration_ms),
    state: state === "up" || state === "degraded" ? state : "down",
    reason: str(r.reason),
    canary: num(r.canary) !== 0,
  };
}

// The newest version of each incident. argMax rather than FINAL: with FINAL, 18.16 may move a WHERE on
// a non-key column into PREWHERE and filter out the newest version before deduplication.
const LATEST = sql`
  SELECT
    id,
    argMax(check_id, version) AS o_check_id,
    argMax(check_uid, version) AS o_check_uid,
    argMax(kind, version) AS o_kind,
    argMax(state, version) AS o_state,
    argMax(started_at, version) AS o_started_at,
    argMax(confirmed_at, version) AS o_confirmed_at,
    argMax(resolved_at, version) AS o_resolved_at,
    argMax(regions, version) AS o_regions,
    argMax(reason, version) AS o_reason,
    argMax(suppressed_by, version) AS o_suppressed_by
  FROM outages`;

const OBSERVATION_COLUMNS = sql`check_id, check_uid, agent_id, region, started_at, duration_ms, state, reason, canary`;

/** Rows of one check id, and of the given uids of it (one identity's) when given. */
function ofCheck(checkId: string, checkUids: readonly string[] | undefined): Sql {
  return checkUids === undefined ? sql`check_id = ${checkId}` : sql`check_id = ${checkId} AND ${checkUidIn(checkUids)}`;
}

/** Creates the outage store over the store's @clickhouse/client instance (bound to the probemesh database). */
export function createOutageStore(deps: {
  client: Pick<ClickHouseClient, "query" | "insert">;
  log: Logger;
}): OutageStore {
  const log = deps.log.child({ component: "outage-store" });
  const { client } = deps;

  async function rows(statement: Sql): Promise<Record<string, unknown>[]> {
    try {
      const rs = await client.query({ query: statement.text, format: "JSONEachRow" });
      return await rs.json<Record<string, unknown>>();
    } catch (err) {
      throw new UnavailableError(`ClickHouse query failed: ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    async saveOutages(outages) {
      if (outages.length === 0) return;
      try {
        await client.insert({ table: "outages", values: outages.map(toDb), format: "JSONEachRow" });
      } catch (err) {
        throw new UnavailableError(`saving ${outages.length} incident(s) failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      log.debug({ ids: outages.map((o) => o.id) }, "incidents saved");
    },

    async listOutages(q) {
      const where: Sql[] = [sql`1`];
      if (q.checkId !== undefined) where.push(sql`check_id = ${q.checkId}`);
      const having: Sql[] = [sql`o_kind IN ${inList([...(q.kinds ?? ["outage", "partial"])], "kinds")}`];
      if (q.checkUids !== undefined) having.push(checkUidIn(q.checkUids, "o_check_uid"));
      if (q.state !== undefined) having.push(sql`o_state = ${q.state}`);
      if (q.to !== undefined) having.push(sql`o_started_at < ${int(q.to, "UInt64", "to")}`);
      if (q.from !== undefined)
        having.push(sql`(o_state = 'open' OR o_resolved_at >= ${int(q.from, "UInt64", "from")})`);
      const limit = int(Math.min(q.limit ?? 1000, 10_000), "UInt32", "limit");
      const statement = sql`${LATEST} WHERE ${joinSql(where, " AND ")} GROUP BY id HAVING ${joinSql(having, " AND ")}
        ORDER BY o_started_at DESC, id LIMIT ${limit}`;
      return (await rows(statement)).map(fromDb);
    },

    async openIncidents() {
      const statement = sql`${LATEST} GROUP BY id HAVING o_state = 'open' ORDER BY o_check_id, o_confirmed_at`;
      return (await rows(statement)).map(fromDb);
    },

    async resultCounts({ checkId, checkUids, from, to }) {
      const mine = ofCheck(checkId, checkUids);
      const a = Math.floor(from / MINUTE) * MINUTE;
      const b = Math.ceil(to / MINUTE) * MINUTE;
      const hA = Math.ceil(a / HOUR) * HOUR;
      const hB = Math.floor(b / HOUR) * HOUR;
      const merge = sql`region, countMerge(total) AS n_total, sumMerge(up) AS n_up, sumMerge(degraded) AS n_degraded,
        sumMerge(down) AS n_down, sumMerge(duration_sum) AS n_duration`;
      let inner: Sql;
      if (hA < hB) {
        inner = sql`SELECT ${merge} FROM rollup_1h WHERE ${mine}
            AND bucket >= ${int(hA, "UInt64")} AND bucket < ${int(hB, "UInt64")} GROUP BY region
          UNION ALL
          SELECT ${merge} FROM rollup_1m WHERE ${mine}
            AND ((bucket >= ${int(a, "UInt64")} AND bucket < ${int(hA, "UInt64")}) OR (bucket >= ${int(hB, "UInt64")} AND bucket < ${int(b, "UInt64")}))
            GROUP BY region`;
      } else {
        inner = sql`SELECT ${merge} FROM rollup_1m WHERE ${mine}
          AND bucket >= ${int(a, "UInt64")} AND bucket < ${int(b, "UInt64")} GROUP BY region`;
      }
      const statement = sql`SELECT region, sum(n_total) AS t, sum(n_up) AS u, sum(n_degraded) AS g, sum(n_down) AS d, sum(n_duration) AS s
        FROM (${inner}) GROUP BY region ORDER BY region`;
      return (await rows(statement)).map((r) => {
        const total = num(r.t);
        return {
          region: str(r.region),
          total,
          up: num(r.u),
          degraded: num(r.g),
          down: num(r.d),
          avgDurationMs: total > 0 ? num(r.s) / total : 0,
        };
      });
    },

    async observedBuckets({ checkId, checkUids, from, to, bucketMs }) {
      const mine = ofCheck(checkId, checkUids);
      const size = Math.max(MINUTE, Math.ceil(bucketMs / MINUTE) * MINUTE);
      const a = Math.floor(from / size) * size;
      const statement = sql`SELECT region, groupArray(b) AS buckets FROM (
          SELECT region, intDiv(bucket, ${int(size, "UInt64", "bucketMs")}) * ${int(size, "UInt64", "bucketMs")} AS b
          FROM rollup_1m WHERE ${mine}
            AND bucket >= ${int(a, "UInt64", "from")} AND bucket < ${int(to, "UInt64", "to")}
          GROUP BY region, b)
        GROUP BY region ORDER BY region`;
      const out = new Map<string, number[]>();
      for (const r of await rows(statement)) {
        const list = Array.isArray(r.buckets) ? r.buckets.map(num).sort((x, y) => x - y) : [];
        out.set(str(r.region), list);
      }
      return out;
    },

    async latencyBuckets({ checkId, checkUids, from, to, bucketMs }) {
      const size = Math.max(MINUTE, Math.ceil(bucketMs / MINUTE) * MINUTE);
      const table = ident(size % HOUR === 0 ? "rollup_1h" : "rollup_1m");
      const a = Math.floor(from / size) * size;
      const b = int(size, "UInt64", "bucketMs");
      const statement = sql`SELECT region, intDiv(bucket, ${b}) * ${b} AS at, countMerge(total) AS t,
          sumMerge(down) AS d, sumMerge(duration_sum) AS s
        FROM ${table} WHERE ${ofCheck(checkId, checkUids)}
          AND bucket >= ${int(a, "UInt64", "from")} AND bucket < ${int(to, "UInt64", "to")}
        GROUP BY region, at ORDER BY at, region`;
      return (await rows(statement)).map((r) => {
        const total = num(r.t);
        return {
          region: str(r.region),
          at: num(r.at),
          total,
          down: num(r.d),
          avgDurationMs: total > 0 ? num(r.s) / total : 0,
        };
      });
    },

    async loadObservations({ checkId, checkUids, from, to, limit }) {
      const statement = sql`SELECT ${OBSERVATION_COLUMNS} FROM results
        WHERE ${ofCheck(checkId, checkUids)} AND started_at >= ${int(from, "UInt64", "from")} AND started_at < ${int(to, "UInt64", "to")}
        ORDER BY started_at, id LIMIT 1 BY id LIMIT ${int(limit + 1, "UInt32", "limit")}`;
      const list = (await rows(statement)).map(observation);
      const truncated = list.length > limit;
      return { observations: truncated ? list.slice(0, limit) : list, truncated };
    },

    async recentObservations({ since, perAgent, limit }) {
      const statement = sql`SELECT ${OBSERVATION_COLUMNS} FROM results
        WHERE started_at >= ${int(since, "UInt64", "since")}
        ORDER BY check_id, agent_id, started_at DESC LIMIT ${int(perAgent, "UInt32", "perAgent")} BY check_id, agent_id
        LIMIT ${int(limit, "UInt32", "limit")}`;
      return (await rows(statement)).map(observation).sort((x, y) => x.startedAt - y.startedAt);
    },
  };
}
