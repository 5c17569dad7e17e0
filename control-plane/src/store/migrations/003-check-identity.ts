import type { Migration } from "./types.js";

const ROLLUP_COLUMNS = `
      check_id String,
      check_uid String,
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
      check_uid,
      region,
      intDiv(started_at, ${bucketMs}) * ${bucketMs} AS bucket,
      countState() AS total,
      sumState(toUInt64(state = 'up')) AS up,
      sumState(toUInt64(state = 'degraded')) AS degraded,
      sumState(toUInt64(state = 'down')) AS down,
      sumState(duration_ms) AS duration_sum
    FROM results
    GROUP BY check_id, check_uid, region, bucket`;

/**
 * Checks have an identity: `check_uid` (the uid the check had when the row was written) on results
 * and incidents, rollups keyed by it, and the identities a check id has had.
 *
 * - `results.check_uid`, `outages.check_uid`: stamped by the control plane (ingest attributes a
 *   result to the uid its check id has when it arrives). Rows written before this migration keep
 *   "" — the uid of checks created before uids existed — so those checks keep their history.
 * - `outages.suppressed_by`: the dependencies that were down when the incident opened (empty: not
 *   suppressed).
 * - `rollup_1m` / `rollup_1h` replace `results_1m` / `results_1h`: the same aggregates, keyed by
 *   (check_id, check_uid, region, bucket), so a re-created id never reads the deleted check's counts.
 *   An AggregatingMergeTree merges rows with equal keys, so the uid must be in the key, not a plain
 *   column; hence new tables and views rather than a column on the old ones. The old views are
 *   dropped (nothing fills the old tables any more; they stay readable and can be dropped by hand).
 *   Like migration 002, the new rollups start empty at this migration: results stored earlier are not
 *   back-filled (a re-run could double count), so availability before the upgrade reads as no data.
 * - `check_identities`: one row per uid a check id has had (created_at, deleted_at 0 while it
 *   lives), newest version wins, so a deleted check's history can be found by id.
 */
export const migration: Migration = {
  version: 3,
  name: "check-identity",
  statements: [
    { addColumn: { table: "results", name: "check_uid", type: "String" } },
    { addColumn: { table: "outages", name: "check_uid", type: "String" } },
    { addColumn: { table: "outages", name: "suppressed_by", type: "Array(String)" } },
    `CREATE TABLE IF NOT EXISTS rollup_1m (${ROLLUP_COLUMNS}
    ) ENGINE = AggregatingMergeTree()
    PARTITION BY toYYYYMMDD(toDateTime(intDiv(bucket, 1000), 'UTC'))
    ORDER BY (check_id, check_uid, region, bucket)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1m_mv TO rollup_1m AS ${rollupSelect(60_000)}`,
    `CREATE TABLE IF NOT EXISTS rollup_1h (${ROLLUP_COLUMNS}
    ) ENGINE = AggregatingMergeTree()
    PARTITION BY toYYYYMM(toDateTime(intDiv(bucket, 1000), 'UTC'))
    ORDER BY (check_id, check_uid, region, bucket)`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1h_mv TO rollup_1h AS ${rollupSelect(3_600_000)}`,
    "DROP TABLE IF EXISTS results_1m_mv",
    "DROP TABLE IF EXISTS results_1h_mv",
    `CREATE TABLE IF NOT EXISTS check_identities (
      check_id String,
      check_uid String,
      type String,
      target String,
      created_at UInt64,
      deleted_at UInt64,
      version UInt64
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (check_id, check_uid)`,
  ],
};
