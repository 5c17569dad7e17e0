import type { Migration } from "./types.js";

/**
 * Probe results. Epoch ms as UInt64 (18.16 has no DateTime64), day partitions in UTC so retention drops
 * whole partitions (18.16 has no TTL). ReplacingMergeTree keyed by (check_id, started_at, id): a result
 * delivered twice (at-least-once ingest, outbox replay) collapses on merge, and readers dedupe by id
 * until it has.
 */
export const migration: Migration = {
  version: 1,
  name: "results",
  statements: [
    `CREATE TABLE IF NOT EXISTS results (
      id String,
      check_id String,
      check_version UInt32,
      agent_id String,
      region String,
      provider String,
      started_at UInt64,
      duration_ms Float64,
      state String,
      reason String,
      message String,
      dns_ms Float64,
      connect_ms Float64,
      tls_ms Float64,
      ttfb_ms Float64,
      transfer_ms Float64,
      seq UInt64,
      attempts UInt32,
      target String,
      canary UInt8,
      lag_ms Float64,
      http_status UInt32,
      body_bytes UInt64,
      details String
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMMDD(toDateTime(intDiv(started_at, 1000), 'UTC'))
    ORDER BY (check_id, started_at, id)`,
  ],
};
