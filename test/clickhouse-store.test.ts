// The ClickHouse store against a real clickhouse-server 18.16: migrations, insert/query, dedupe by id,
// hostile strings through the escaping helper, retention by partition, and unavailability.
import {
  type ClickHouseStore,
  createClickHouseStore,
  listMigrations,
  type ResultRow,
  sql,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/index.js";

const log = pino({ level: "silent" });
const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 10, 12);

function row(over: Partial<ResultRow> = {}): ResultRow {
  return {
    id: "r-1",
    checkId: "web",
    checkUid: "",
    checkVersion: 1,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "aws",
    startedAt: T0,
    durationMs: 10.5,
    state: "up",
    reason: "",
    message: "",
    phases: { dnsMs: 1, connectMs: 2, tlsMs: 3, ttfbMs: 4, transferMs: 0.5 },
    seq: 1,
    attempts: 1,
    target: "http://127.0.0.1:1/",
    canary: false,
    lagMs: 0.25,
    httpStatus: 200,
    bodyBytes: 10,
    details: {},
    ...over,
  };
}

describe("ClickHouse store on clickhouse-server 18.16", () => {
  let ch: ClickHouseServer;
  let store: ClickHouseStore;

  beforeAll(async () => {
    ch = await startClickHouse();
    store = createClickHouseStore({ url: ch.url, database: "pm_store", log, now: () => T0 });
  });

  afterAll(async () => {
    await store?.close();
    await ch?.dispose();
  });

  it("migrates a fresh server, concurrently from three control planes, and is idempotent", async () => {
    expect(store.migrated()).toBe(false);
    const others = [1, 2].map(() => createClickHouseStore({ url: ch.url, database: "pm_store", log }));
    await Promise.all([store.migrate(), ...others.map((s) => s.migrate())]);
    await store.migrate();
    await Promise.all(others.map((s) => s.close()));
    expect(store.migrated()).toBe(true);
    const versions = await ch.rows<{ version: number }>(
      "SELECT DISTINCT version FROM pm_store.schema_migrations ORDER BY version",
    );
    expect(versions.map((v) => v.version)).toEqual(listMigrations().map((m) => m.version));
    expect(versions[0]?.version).toBe(1);
    const cols = await ch.rows<{ name: string; type: string }>(
      "SELECT name, type FROM system.columns WHERE database = 'pm_store' AND table = 'results'",
    );
    expect(cols).toContainEqual({ name: "started_at", type: "UInt64" });
    expect(cols).toContainEqual({ name: "details", type: "String" });
  });

  it("stores rows and returns them newest first, filtered by time and region, duplicates once", async () => {
    const rows = [
      row({
        id: "a",
        startedAt: T0,
        region: "eu-west",
        details: { tls: { protocol: "TLSv1.3", notAfterMs: 1_800_000_000_000 } },
      }),
      row({
        id: "b",
        startedAt: T0 + 1000,
        region: "us-east",
        state: "down",
        reason: "timeout",
        httpStatus: 0,
        canary: true,
      }),
      row({ id: "c", startedAt: T0 + 2000, region: "eu-west", seq: 2 ** 40 }),
      row({ id: "other", checkId: "db", startedAt: T0 + 1500 }),
    ];
    await store.insertResults(rows);
    // The same results delivered again (at-least-once ingest) in separate inserts.
    await store.insertResults([rows[0]!, rows[2]!]);
    await store.insertResults([rows[2]!]);

    const all = await store.queryResults({ checkId: "web", from: T0, to: T0 + 10_000, limit: 100 });
    expect(all.map((r) => r.id)).toEqual(["c", "b", "a"]);
    expect(all[2]).toEqual(rows[0]);
    expect(all[1]).toMatchObject({ state: "down", reason: "timeout", canary: true, httpStatus: 0 });
    expect(all[0]?.seq).toBe(2 ** 40);

    expect(
      (await store.queryResults({ checkId: "web", from: T0, to: T0 + 10_000, region: "eu-west", limit: 100 })).map(
        (r) => r.id,
      ),
    ).toEqual(["c", "a"]);
    expect(
      (await store.queryResults({ checkId: "web", from: T0 + 1, to: T0 + 2000, limit: 100 })).map((r) => r.id),
    ).toEqual(["b"]);
    expect(
      (await store.queryResults({ checkId: "web", from: T0, to: T0 + 10_000, limit: 2 })).map((r) => r.id),
    ).toEqual(["c", "b"]);
    expect(await store.queryResults({ checkId: "nope", from: 0, to: T0 * 2, limit: 10 })).toEqual([]);
  });

  it("round-trips hostile strings through inserts and the escaping helper", async () => {
    const hostile = [
      "'; DROP TABLE results; --",
      "a\\' OR 1=1 --",
      "\\",
      "'",
      "x\u0000y\nz\t",
      '🚀 ünï `q` "d"',
      "/* c */",
    ];
    for (const [i, s] of hostile.entries()) {
      await store.insertResults([row({ id: `h${i}`, checkId: s, region: s, message: s, startedAt: T0 + i })]);
      const back = await store.queryResults({ checkId: s, region: s, from: 0, to: T0 * 2, limit: 10 });
      expect(back.map((r) => [r.id, r.checkId, r.message])).toEqual([[`h${i}`, s, s]]);
      const echoed = await store.select<{ v: string }>(sql`SELECT ${s} AS v`);
      expect(echoed).toEqual([{ v: s }]);
    }
    expect((await ch.query("EXISTS TABLE pm_store.results")).trim()).toBe("1");
  });

  it.each(["RowBinary", "TabSeparated"] as const)(
    "stores a %s batch of hostile strings and extreme numbers, every field exact",
    async (insertFormat) => {
      const hostile = [
        "tab\there",
        "line\nfeed",
        "cr\r\nlf",
        "back\\slash\\",
        "\\t not a tab",
        "\\N",
        "trailing backslash\\",
        `"double" and 'single' quotes`,
        "nul\u0000byte \b \f",
        "🚀 ünïcödé 中文 \u2028\u2029",
        "",
        // RowBinary length prefixes: 127 and 128 bytes (one and two LEB128 bytes), 42 x 3 bytes (126, the
        // in-place path) and 43 x 3 (129), 16,384 bytes (three LEB128 bytes), a long emoji message.
        "x".repeat(127),
        "y".repeat(128),
        "中".repeat(42),
        "文".repeat(43),
        "z".repeat(16_384),
        "🚀\u0000\n".repeat(1_000),
      ];
      // 18.16's text parser reads a subnormal (5e-324) as 0; RowBinary sends the bits.
      const subnormal = insertFormat === "RowBinary" ? [Number.MIN_VALUE] : [];
      const numbers = [1e-7, 1e21, 0.1 + 0.2, -0, 123456.789012345, Number.MAX_VALUE, ...subnormal];
      const tag = insertFormat === "RowBinary" ? "rb" : "tsv";
      const writer = createClickHouseStore({ url: ch.url, database: "pm_store", log, insertFormat });
      const rows = hostile.map((s, i) =>
        row({
          id: `${tag}-${i}${s.slice(0, 200)}`,
          checkId: tag,
          checkUid: s,
          provider: s,
          startedAt: T0 + i,
          reason: s,
          message: s,
          target: `https://x/${s}?q=${s}`,
          details: { dns: { rcode: s, answers: [s, "\t\n"] } },
          durationMs: numbers[i % numbers.length]!,
          lagMs: numbers[(i + 1) % numbers.length]!,
          phases: { dnsMs: 0, connectMs: 1e-300, tlsMs: 2 ** 52 + 0.5, ttfbMs: 4.2, transferMs: Number.MAX_VALUE },
          checkVersion: 4_294_967_295 - i,
          attempts: 4_294_967_295,
          seq: Number.MAX_SAFE_INTEGER - i,
          bodyBytes: 2 ** 53 - 1 - i * 2 ** 32,
          httpStatus: 4_294_967_295,
          canary: i % 2 === 0,
        }),
      );
      try {
        await writer.insertResults(rows);
      } finally {
        await writer.close();
      }
      const back = await store.queryResults({ checkId: tag, from: 0, to: T0 * 2, limit: 100 });
      // -0 is stored as 0 (both formats send 0).
      expect([...back].reverse()).toEqual(
        rows.map((r) => ({ ...r, durationMs: r.durationMs || 0, lagMs: r.lagMs || 0 })),
      );
      // A lone UTF-16 surrogate cannot be UTF-8: it is stored as U+FFFD, and the rest of the row as sent.
      const lone = createClickHouseStore({ url: ch.url, database: "pm_store", log, insertFormat });
      try {
        await lone.insertResults([row({ id: `${tag}-lone`, checkId: `${tag}-lone`, message: "a\ud800b\udfff" })]);
      } finally {
        await lone.close();
      }
      const [stored] = await store.queryResults({ checkId: `${tag}-lone`, from: 0, to: T0 * 2, limit: 1 });
      expect(stored?.message).toBe("a\ufffdb\ufffd");
    },
  );

  it("rejects bad queries and rows before sending anything", async () => {
    await expect(store.queryResults({ checkId: "web", from: -1, to: 5, limit: 10 })).rejects.toThrow(/from/);
    await expect(store.queryResults({ checkId: "web", from: 0, to: 5, limit: 0 })).rejects.toThrow(/limit/);
    await expect(store.queryResults({ checkId: "", from: 0, to: 5, limit: 1 })).rejects.toThrow(/checkId/);
    await expect(store.insertResults([row({ durationMs: NaN })])).rejects.toThrow(/durationMs/);
    expect(() => createClickHouseStore({ url: ch.url, database: "x; DROP DATABASE y", log })).toThrow(/database/);
  });

  it("drops whole day partitions before a day (retention) and keeps that day", async () => {
    await store.insertResults([
      row({ id: "old1", checkId: "ret", startedAt: T0 - 3 * DAY }),
      row({ id: "old2", checkId: "ret", startedAt: T0 - 2 * DAY }),
      row({ id: "keep", checkId: "ret", startedAt: T0 - DAY + 1 }),
    ]);
    const cutoff = T0 - DAY; // 2024-01-09 12:00 UTC: days 01-07 and 01-08 go, 01-09 stays.
    expect(await store.dropPartitionsBefore(cutoff)).toEqual(["20240107", "20240108"]);
    expect((await store.queryResults({ checkId: "ret", from: 0, to: T0 * 2, limit: 10 })).map((r) => r.id)).toEqual([
      "keep",
    ]);
    expect(await store.dropPartitionsBefore(cutoff)).toEqual([]);
  });

  it("reports ClickHouse down as ping false and unavailable errors, and recovers after restart", async () => {
    expect(await store.ping()).toBe(true);
    const started = Date.now();
    await ch.stop();
    // A pooled keep-alive socket must not hold the server's shutdown for long.
    expect(Date.now() - started).toBeLessThan(9_000);
    expect(await store.ping()).toBe(false);
    await expect(store.insertResults([row({ id: "during" })])).rejects.toMatchObject({ code: "unavailable" });
    await ch.restart();
    expect(await store.ping()).toBe(true);
    await store.insertResults([row({ id: "after", checkId: "recover" })]);
    expect((await store.queryResults({ checkId: "recover", from: 0, to: T0 * 2, limit: 10 })).map((r) => r.id)).toEqual(
      ["after"],
    );
  });
});
