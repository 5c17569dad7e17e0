import {
  ClickHouseError,
  ClickHouseLogLevel,
  createClient,
  drainStream,
  type ClickHouseClient,
  type Logger as ClientLogger,
} from "@clickhouse/client";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import { ProbemeshError, UnavailableError, ValidationError } from "../errors.js";
import { runMigrations, type SqlExecutor } from "./migrate.js";
import { fromDbRow, RESULT_COLUMNS, toRowBinary, toTsv } from "./result-columns.js";
import { partitionsBefore } from "./retention.js";
import { ident, int, isIdentifier, joinSql, sql, type Sql } from "./sql.js";
import { checkUidIn } from "./row-uids.js";
import type { ResultQuery, ResultRow, ResultStore } from "./types.js";

/** Most rows one queryResults call may return. */
export const MAX_RESULT_LIMIT = 10_000;

/** ResultStore on ClickHouse, plus schema migration, retention and the raw client for other store modules. */
export interface ClickHouseStore extends ResultStore {
  /** Creates the database and applies pending migrations (idempotent; safe from several replicas at once). */
  migrate(): Promise<void>;
  /** True once migrate() has succeeded in this process. */
  migrated(): boolean;
  /**
   * Retention (18.16 has no TTL): drops whole UTC day partitions (`YYYYMMDD`) older than the day containing
   * `dayMs` from `tables` (each partitioned like `results`). Returns dropped ids; ids of tables other than
   * `results` are prefixed `table:`. @default tables ["results"]
   */
  dropPartitionsBefore(dayMs: number, tables?: readonly string[]): Promise<string[]>;
  /** Runs a statement built with the `sql` template (no result). */
  exec(statement: Sql): Promise<void>;
  /** Runs a SELECT built with the `sql` template and returns its JSONEachRow rows (UInt64 as strings). */
  select<T>(query: Sql): Promise<T[]>;
  /** The database this store works in. */
  readonly database: string;
  /** The underlying @clickhouse/client, bound to `database`. */
  readonly client: ClickHouseClient;
  close(): Promise<void>;
}

/** Options of createClickHouseStore. */
export interface ClickHouseStoreOptions {
  /** HTTP URL of ClickHouse, e.g. http://127.0.0.1:8123 */
  url: string;
  /** Database name (letters, digits, underscore). */
  database: string;
  log: Logger;
  /** Clock for bookkeeping timestamps. @default Date.now */
  now?: () => number;
  /** Per-request timeout. @default 30000 */
  requestTimeoutMs?: number;
  /**
   * Body format of result inserts. RowBinary costs ClickHouse and the control plane less CPU per row
   * than TabSeparated (control-plane/README.md, Benchmarks); TabSeparated stays for comparison.
   * @default "RowBinary"
   */
  insertFormat?: "RowBinary" | "TabSeparated";
}

/**
 * Forwards the client's own log lines to our pino logger (the default one writes to the console). Its
 * per-request errors go to debug: every failure also reaches the caller as a thrown error, which is
 * logged once where it is handled.
 */
function clientLoggerClass(log: Logger): new () => ClientLogger {
  return class implements ClientLogger {
    trace(p: { module: string; message: string; args?: Record<string, unknown> }): void {
      log.trace({ module: p.module, ...p.args }, p.message);
    }
    debug(p: { module: string; message: string; args?: Record<string, unknown> }): void {
      log.debug({ module: p.module, ...p.args }, p.message);
    }
    info(p: { module: string; message: string; args?: Record<string, unknown> }): void {
      log.info({ module: p.module, ...p.args }, p.message);
    }
    warn(p: { module: string; message: string; args?: Record<string, unknown>; err?: Error }): void {
      log.warn({ module: p.module, ...p.args, err: p.err }, p.message);
    }
    error(p: { module: string; message: string; args?: Record<string, unknown>; err: Error }): void {
      log.debug({ module: p.module, ...p.args, err: p.err }, p.message);
    }
  };
}

/** Maps client failures: a server-side error keeps ClickHouse's code; anything else means unreachable. */
/**
 * ClickHouse error codes that mean "this data cannot be stored" rather than "ClickHouse cannot
 * store now": parse and conversion failures of the inserted values (CANNOT_PARSE_*, TYPE_MISMATCH,
 * CANNOT_CONVERT_TYPE, INCORRECT_DATA, ARGUMENT_OUT_OF_BOUND, TOO_LARGE_STRING_SIZE, ...).
 */
const DATA_ERROR_CODES = new Set([
  "6",
  "26",
  "27",
  "32",
  "33",
  "38",
  "41",
  "53",
  "69",
  "70",
  "72",
  "117",
  "131",
  "349",
]);

/**
 * True when a store call failed on the values themselves, so retrying them cannot help: the
 * store's own row validation refused one, or ClickHouse answered with a data error code.
 */
export function isDataRejection(err: unknown): boolean {
  if (err instanceof ValidationError) return true;
  return (
    err instanceof ProbemeshError &&
    err.code === "clickhouse_error" &&
    DATA_ERROR_CODES.has(String(err.details?.["clickhouseCode"]))
  );
}

function storeError(what: string, err: unknown): ProbemeshError {
  if (err instanceof ProbemeshError) return err;
  if (err instanceof ClickHouseError) {
    return new ProbemeshError(
      "clickhouse_error",
      `${what}: ${err.message}`,
      { clickhouseCode: err.code },
      { cause: err },
    );
  }
  return new UnavailableError(`${what}: ClickHouse unreachable (${err instanceof Error ? err.message : String(err)})`, {
    cause: err,
  });
}

function validateQuery(q: ResultQuery): void {
  if (typeof q.checkId !== "string" || q.checkId === "")
    throw new ValidationError("checkId must not be empty", { field: "checkId" });
  for (const field of ["from", "to"] as const) {
    if (!Number.isSafeInteger(q[field]) || q[field] < 0)
      throw new ValidationError(`${field} must be epoch ms (a non-negative integer)`, { field });
  }
  if (q.to < q.from) throw new ValidationError("to must not be before from", { field: "to" });
  if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_RESULT_LIMIT) {
    throw new ValidationError(`limit must be an integer in [1, ${MAX_RESULT_LIMIT}]`, { field: "limit" });
  }
  if (q.region !== undefined && (typeof q.region !== "string" || q.region === "")) {
    throw new ValidationError("region must not be empty", { field: "region" });
  }
}

/** Creates the ClickHouse-backed store. Nothing is sent until a method is called. */
export function createClickHouseStore(opts: ClickHouseStoreOptions): ClickHouseStore {
  const { url, database } = opts;
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: "clickhouse-store" });
  if (!isIdentifier(database))
    throw new ValidationError(`invalid ClickHouse database name ${JSON.stringify(database)}`, { field: "database" });
  // No clickhouse_settings: ClickHouse 18.16 rejects settings it does not know.
  const clientOptions = {
    url,
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    application: "probemesh-control-plane",
    log: { LoggerClass: clientLoggerClass(log), level: ClickHouseLogLevel.WARN },
  };
  const client = createClient({ ...clientOptions, database });
  const insertFormat = opts.insertFormat ?? "RowBinary";
  if (insertFormat !== "RowBinary" && insertFormat !== "TabSeparated")
    throw new ValidationError(`insertFormat must be RowBinary or TabSeparated`, { field: "insertFormat" });
  const insertStatement =
    sql`INSERT INTO results (${joinSql(RESULT_COLUMNS.map((c) => ident(c)))}) FORMAT `.text + insertFormat;
  let isMigrated = false;

  const executor = (c: ClickHouseClient): SqlExecutor => ({
    async command(statement) {
      await c.command({ query: statement });
    },
    async query<T>(statement: string) {
      const rs = await c.query({ query: statement, format: "JSONEachRow" });
      return await rs.json<T>();
    },
  });
  const db = executor(client);

  async function select<T>(query: Sql): Promise<T[]> {
    try {
      return await db.query<T>(query.text);
    } catch (err) {
      throw storeError("query failed", err);
    }
  }

  async function exec(statement: Sql): Promise<void> {
    try {
      await db.command(statement.text);
    } catch (err) {
      throw storeError("statement failed", err);
    }
  }

  return {
    database,
    client,
    exec,
    select,

    async migrate() {
      // The database may not exist yet, so it is created through a client that is not bound to it.
      const admin = createClient({ ...clientOptions, database: "default" });
      try {
        const applied = await runMigrations({ admin: executor(admin), db, database, log, now });
        isMigrated = true;
        log.info({ database, applied }, applied.length > 0 ? "schema migrated" : "schema up to date");
      } catch (err) {
        throw storeError("migration failed", err);
      } finally {
        await admin.close();
      }
    },

    migrated: () => isMigrated,

    async insertResults(rows) {
      if (rows.length === 0) return;
      // Encoded (and validated) before anything is sent: a bad row throws ValidationError up front.
      const body = insertFormat === "RowBinary" ? toRowBinary(rows) : Buffer.from(toTsv(rows), "utf8");
      try {
        // exec, not insert: the client's insert() does not take RowBinary. The statement is fixed
        // text (no values), the rows go in the body.
        const res = await client.exec({
          query: insertStatement,
          values: Readable.from([body], { objectMode: false }),
        });
        await drainStream(res.stream);
      } catch (err) {
        throw storeError(`insert of ${rows.length} results failed`, err);
      }
    },

    async queryResults(q): Promise<ResultRow[]> {
      validateQuery(q);
      const where = [
        sql`check_id = ${q.checkId}`,
        ...(q.checkUids !== undefined ? [checkUidIn(q.checkUids)] : []),
        sql`started_at >= ${int(q.from, "UInt64", "from")}`,
        sql`started_at < ${int(q.to, "UInt64", "to")}`,
      ];
      if (q.region !== undefined) where.push(sql`region = ${q.region}`);
      const columns = joinSql(RESULT_COLUMNS.map((c) => ident(c)));
      // LIMIT 1 BY id: duplicate deliveries not yet collapsed by ReplacingMergeTree merges come back once.
      // (Works on 18.16 and current ClickHouse; FINAL would also work but reads every part's key range.)
      const rows = await select<Record<string, unknown>>(
        sql`SELECT ${columns} FROM results WHERE ${joinSql(where, " AND ")} ORDER BY started_at DESC, id ASC LIMIT 1 BY id LIMIT ${int(q.limit, "UInt32", "limit")}`,
      );
      return rows.map(fromDbRow);
    },

    async ping() {
      try {
        const res = await client.ping();
        return res.success;
      } catch {
        return false;
      }
    },

    async dropPartitionsBefore(dayMs, tables = ["results"]) {
      if (!Number.isSafeInteger(dayMs) || dayMs < 0)
        throw new ValidationError("dayMs must be epoch ms", { field: "dayMs" });
      const dropped: string[] = [];
      for (const table of tables) {
        const name = ident(table);
        const parts = await select<{ partition_id: string }>(
          sql`SELECT DISTINCT partition_id FROM system.parts WHERE database = ${database} AND table = ${table} AND active`,
        );
        for (const id of partitionsBefore(
          parts.map((p) => p.partition_id),
          dayMs,
        )) {
          await exec(sql`ALTER TABLE ${name} DROP PARTITION ID ${id}`);
          dropped.push(table === "results" ? id : `${table}:${id}`);
        }
      }
      if (dropped.length > 0) log.info({ dropped }, "dropped old partitions");
      return dropped;
    },

    async close() {
      await client.close();
    },
  };
}
