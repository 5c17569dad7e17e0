import type { Logger } from "pino";
import { ProbemeshError } from "../errors.js";
import * as registered from "./migrations/index.js";
import type { Migration, MigrationStatement } from "./migrations/types.js";
import { ident, int, sql } from "./sql.js";

/** What the runner needs from ClickHouse: statements without a result, and JSONEachRow queries. */
export interface SqlExecutor {
  command(statement: string): Promise<void>;
  query<T>(statement: string): Promise<T[]>;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** The registered migrations, validated (positive unique versions, kebab-case names) and sorted. */
export function listMigrations(migrations: readonly Migration[] = Object.values(registered)): Migration[] {
  const seen = new Set<number>();
  for (const m of migrations) {
    if (!Number.isSafeInteger(m.version) || m.version < 1) {
      throw new ProbemeshError("bad_migration", `migration ${JSON.stringify(m.name)} has invalid version ${m.version}`);
    }
    if (seen.has(m.version)) throw new ProbemeshError("bad_migration", `two migrations have version ${m.version}`);
    seen.add(m.version);
    if (!NAME.test(m.name))
      throw new ProbemeshError("bad_migration", `migration ${m.version} has invalid name ${JSON.stringify(m.name)}`);
    if (m.statements.length === 0)
      throw new ProbemeshError("bad_migration", `migration ${m.version} has no statements`);
  }
  return [...migrations].sort((a, b) => a.version - b.version);
}

/**
 * Brings `database` up to the newest migration: creates the database (through `admin`, which is not bound
 * to it) and `schema_migrations` if missing, then applies each pending migration's statements in order
 * and records its version afterwards. Safe to run from several control planes at once: statements are
 * idempotent and duplicate version records collapse (ReplacingMergeTree, read with DISTINCT).
 * Returns the versions applied by this call.
 */
export async function runMigrations(opts: {
  admin: SqlExecutor;
  db: SqlExecutor;
  database: string;
  log: Logger;
  now: () => number;
  migrations?: readonly Migration[];
}): Promise<number[]> {
  const { admin, db, log, now } = opts;
  const migrations = listMigrations(opts.migrations);
  await admin.command(sql`CREATE DATABASE IF NOT EXISTS ${ident(opts.database)}`.text);
  await db.command(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at UInt64) " +
      "ENGINE = ReplacingMergeTree ORDER BY version",
  );
  const rows = await db.query<{ version: number | string }>("SELECT DISTINCT version FROM schema_migrations");
  const done = new Set(rows.map((r) => Number(r.version)));
  const newest = migrations.at(-1)?.version ?? 0;
  const unknown = [...done].filter((v) => v > newest);
  if (unknown.length > 0) {
    log.warn({ versions: unknown }, "database has migrations this control plane does not know (a newer version ran)");
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    log.info({ version: m.version, name: m.name }, "applying migration");
    for (const statement of m.statements) {
      try {
        await apply(db, statement);
      } catch (err) {
        throw new ProbemeshError(
          "migration_failed",
          `migration ${m.version}-${m.name} failed: ${(err as Error).message}`,
          { version: m.version },
          { cause: err },
        );
      }
    }
    await db.command(
      sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${int(m.version, "UInt32")}, ${m.name}, ${int(now(), "UInt64")})`
        .text,
    );
    applied.push(m.version);
  }
  return applied;
}

/** Runs one statement; an {@link AddColumn} only when the column is not there yet. */
async function apply(db: SqlExecutor, statement: MigrationStatement): Promise<void> {
  if (typeof statement === "string") return db.command(statement);
  const { table, name, type } = statement.addColumn;
  if (!/^[A-Za-z][A-Za-z0-9 (),_]*$/.test(type))
    throw new ProbemeshError("bad_migration", `invalid column type ${type}`);
  const present = async () => {
    const rows = await db.query<{ n: number | string }>(
      sql`SELECT count() AS n FROM system.columns WHERE database = currentDatabase() AND table = ${table} AND name = ${name}`
        .text,
    );
    return Number(rows[0]?.n ?? 0) > 0;
  };
  if (await present()) return;
  try {
    await db.command(`${sql`ALTER TABLE ${ident(table)} ADD COLUMN ${ident(name)}`.text} ${type}`);
  } catch (err) {
    // Another control plane migrating at the same time added it between our look and our ALTER.
    if (await present()) return;
    throw err;
  }
}
