/**
 * One schema step. Statements run in order in the store's database and must be idempotent
 * (`CREATE ... IF NOT EXISTS`), because several control planes may start at once and a crash between
 * a statement and the version record makes the next start run the migration again. Use only SQL that
 * runs on ClickHouse 18.16 and current ClickHouse (see DESIGN.md); values go through ../sql.ts.
 */
export interface Migration {
  /** Unique, positive; applied in ascending order. */
  version: number;
  /** Short kebab-case description, stored with the version. */
  name: string;
  statements: string[];
}
