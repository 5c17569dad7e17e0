import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { listMigrations, runMigrations, type SqlExecutor } from "./migrate.js";
import type { Migration } from "./migrations/types.js";

const log = pino({ level: "silent" });

/** Records statements and answers the applied-versions query from the INSERTs it has seen. */
function fakeDb(): SqlExecutor & { statements: string[] } {
  const statements: string[] = [];
  const versions = new Set<number>();
  return {
    statements,
    async command(s) {
      statements.push(s);
      const m = /INSERT INTO schema_migrations .* VALUES \((\d+),/.exec(s);
      if (m) versions.add(Number(m[1]));
    },
    async query<T>(s: string) {
      statements.push(s);
      return [...versions].map((v) => ({ version: String(v) })) as T[];
    },
  };
}

const m = (version: number, name: string, ...statements: string[]): Migration => ({ version, name, statements });

describe("listMigrations", () => {
  it("includes the results table as version 1 and sorts by version", () => {
    const all = listMigrations();
    expect(all[0]?.version).toBe(1);
    expect(all[0]?.statements.join("\n")).toContain("CREATE TABLE IF NOT EXISTS results");
    expect(listMigrations([m(3, "c", "x"), m(1, "a", "y"), m(2, "b", "z")]).map((x) => x.version)).toEqual([1, 2, 3]);
  });

  it("rejects duplicate or invalid versions, bad names and empty migrations", () => {
    expect(() => listMigrations([m(1, "a", "x"), m(1, "b", "y")])).toThrow(/two migrations have version 1/);
    expect(() => listMigrations([m(0, "a", "x")])).toThrow(/invalid version/);
    expect(() => listMigrations([m(1.5, "a", "x")])).toThrow(/invalid version/);
    expect(() => listMigrations([m(1, "Bad Name", "x")])).toThrow(/invalid name/);
    expect(() => listMigrations([m(1, "a")])).toThrow(/no statements/);
  });

  it("uses only SQL that ClickHouse 18.16 accepts", () => {
    const text = listMigrations()
      .flatMap((x) => x.statements)
      .join("\n");
    for (const forbidden of [
      /DateTime64/i,
      /\bTTL\b/,
      /toStartOfInterval/i,
      /LowCardinality/i,
      /\{\w+:\w+\}/,
      /\bOVER\s*\(/i,
    ]) {
      expect(text).not.toMatch(forbidden);
    }
  });
});

describe("runMigrations", () => {
  it("creates the database and bookkeeping table, applies pending migrations in order and records them", async () => {
    const admin = fakeDb();
    const db = fakeDb();
    const applied = await runMigrations({
      admin,
      db,
      database: "probemesh_x",
      log,
      now: () => 1_700_000_000_000,
      migrations: [m(2, "second", "S2a", "S2b"), m(1, "first", "S1")],
    });
    expect(applied).toEqual([1, 2]);
    expect(admin.statements).toEqual(["CREATE DATABASE IF NOT EXISTS probemesh_x"]);
    const plain = db.statements.filter((s) => !s.includes("schema_migrations"));
    expect(plain).toEqual(["S1", "S2a", "S2b"]);
    expect(db.statements).toContain(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'first', 1700000000000)",
    );
    // Version recorded only after its statements ran.
    expect(db.statements.indexOf("S1")).toBeLessThan(db.statements.findIndex((s) => s.includes("VALUES (1,")));
  });

  it("applies nothing the second time and only the new migration after one is added", async () => {
    const admin = fakeDb();
    const db = fakeDb();
    const base = { admin, db, database: "d", log, now: () => 1 };
    expect(await runMigrations({ ...base, migrations: [m(1, "first", "S1")] })).toEqual([1]);
    expect(await runMigrations({ ...base, migrations: [m(1, "first", "S1")] })).toEqual([]);
    expect(await runMigrations({ ...base, migrations: [m(1, "first", "S1"), m(2, "second", "S2")] })).toEqual([2]);
    expect(db.statements.filter((s) => s === "S1")).toHaveLength(1);
  });

  it("rejects an invalid database name before sending anything", async () => {
    const admin = fakeDb();
    await expect(runMigrations({ admin, db: fakeDb(), database: "x; DROP", log, now: () => 1 })).rejects.toThrow(
      /invalid identifier/,
    );
    expect(admin.statements).toEqual([]);
  });

  it("names the failing migration and does not record it", async () => {
    const db = fakeDb();
    const failing: SqlExecutor = {
      command: async (s) => {
        if (s === "BAD") throw new Error("Syntax error");
        await db.command(s);
      },
      query: (s) => db.query(s),
    };
    await expect(
      runMigrations({
        admin: fakeDb(),
        db: failing,
        database: "d",
        log,
        now: () => 1,
        migrations: [m(1, "first", "S1"), m(2, "broken", "BAD")],
      }),
    ).rejects.toThrow(/migration 2-broken failed: Syntax error/);
    expect(await db.query("SELECT")).toEqual([{ version: "1" }]);
  });
});

describe("runMigrations: columns added to existing tables", () => {
  it("adds a column only when system.columns does not list it (18.16 has no ADD COLUMN IF NOT EXISTS)", async () => {
    for (const present of [false, true]) {
      const statements: string[] = [];
      const db: SqlExecutor = {
        async command(s) {
          statements.push(s);
        },
        async query<T>(s: string) {
          statements.push(s);
          if (s.includes("system.columns")) return [{ n: present ? "1" : "0" }] as T[];
          return [] as T[];
        },
      };
      const migration: Migration = {
        version: 1,
        name: "add",
        statements: [{ addColumn: { table: "results", name: "check_uid", type: "String" } }],
      };
      await runMigrations({ admin: db, db, database: "pm", log, now: () => 1, migrations: [migration] });
      const alter = statements.filter((s) => s.startsWith("ALTER TABLE"));
      expect(alter).toEqual(present ? [] : ["ALTER TABLE results ADD COLUMN check_uid String"]);
    }
  });
});
