/**
 * A column added to an existing table. ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, so the
 * runner adds it only when `system.columns` does not list it yet (idempotent on every version).
 */
export interface AddColumn {
  addColumn: {
    table: string;
    name: string;
    /** Column type and default, e.g. "String" or "UInt8 DEFAULT 0". */
    type: string;
  };
}

/** One statement of a migration: SQL text, or a column added when missing. */
export type MigrationStatement = string | AddColumn;

/**
 * One schema step. Statements run in order in the store's database and must be idempotent
 * (`CREATE ... IF NOT EXISTS`, {@link AddColumn}), because several control planes may start at once
 * and a crash between a statement and the version record makes the next start run the migration
 * again. Use only SQL that runs on ClickHouse 18.16 and current ClickHouse (see DESIGN.md); values
 * go through ../sql.ts.
 */
export interface Migration {
  /** Unique, positive; applied in ascending order. */
  version: number;
  /** Short kebab-case description, stored with the version. */
  name: string;
  statements: MigrationStatement[];
}
