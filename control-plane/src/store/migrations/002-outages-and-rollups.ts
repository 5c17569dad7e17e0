import type { Migration } from "./types.js";

const ROLLUP_COLUMNS = `
      check_id String,
      region String,
      bucket UInt64,
      total AggregateFunction(count),
      up AggregateFunction(sum, UInt64),
      degraded AggregateFunction(sum, UInt64),
      down AggregateFunction(sum, UInt64),
      duration_sum AggregateFunction(sum, Float64)`;

const rollupSelect = (bucketMs: number): string => `
    SELECT
      check_id,
      region,
      intDiv(started_at, ${bucketMs}) * ${bucketMs} AS bucket,
      countState() AS total,
      sumState(toUInt64(state = 'up')) AS up,
      sumState(toUInt64(state = 'degraded')) AS degraded,
      sumState(toUInt64(state = 'down')) AS down,
      sumState(duration_ms) AS duration_sum
    FROM results
    GROUP BY check_id, region, bucket`;

/**
 * Outages and result rollups.
 *
 * `outages` holds every incident record (kind outage | partial | region); an incident is written again
 * when it changes (open -> resolved), with a larger `version`, and ReplacingMergeTree keeps the newest,
 * so readers use FINAL. Versions derive from the incident's own times, so two replicas writing the same
 * transition write identical rows.
 *
 * `results_1m` / `results_1h` are per-minute and per-hour AggregatingMergeTree rollups filled by
 * materialized views on insert into `results`, so a 30-day availability query reads ~720 hourly rows per
 * region instead of the raw results. Buckets are epoch ms (UInt64; no DateTime64 on 18.16). They start
 * empty: results stored before this migration are not back-filled (a re-run could double count).
 * A duplicate delivery of a result that ReplacingMergeTree later collapses in `results` stays counted
 * in the rollups; JetStream's msg-id dedupe makes that rare, and the counts feed ratios only.
 */
export const migration: Migration = {
  version: 2,
  name: "outages-and-rollups",
  statements: [
    `CREATE TABLE IF NOT EXISTS outages (
      id String,
      check_id String,
      kind String,
      state String,
      started_at UInt64,
      confirmed_at UInt64,
      resolved_at UInt64,
      regions Array(String),
      reason String,
      version UInt64
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (check_id, id)`,
    `CREATE TABLE IF NOT EXISTS results_1m (${ROLLUP_COLUMNS}
    ) ENGINE = AggregatingMergeTree()
    PARTITION BY toYYYYMMDD(toDateTime(intDiv(bucket, 1000), 'UTC'))
    ORDER BY (check_id, region, bucket)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS results_1m_mv TO results_1m AS ${rollupSelect(60_000)}`,
    `CREATE TABLE IF NOT EXISTS results_1h (${ROLLUP_COLUMNS}
    ) ENGINE = AggregatingMergeTree()
    PARTITION BY toYYYYMM(toDateTime(intDiv(bucket, 1000), 'UTC'))
    ORDER BY (check_id, region, bucket)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS results_1h_mv TO results_1h AS ${rollupSelect(3_600_000)}`,
  ],
};
