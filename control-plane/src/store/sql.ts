// ClickHouse 18.16 has no query parameters, so every value is inlined into the SQL text. This module is
// the only place that turns a value into SQL: `literal()` validates and escapes, and the `sql` tagged
// template accepts values only through it. Nothing else in the store should concatenate SQL strings.
import { ValidationError } from "../errors.js";

/** Longest string literal accepted (bytes are not the issue; an oversized filter is a bug or an attack). */
export const MAX_STRING_LITERAL = 65_536;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const INT_RANGES = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65_535n],
  UInt32: [0n, 4_294_967_295n],
  UInt64: [0n, 18_446_744_073_709_551_615n],
  Int8: [-128n, 127n],
  Int16: [-32_768n, 32_767n],
  Int32: [-2_147_483_648n, 2_147_483_647n],
  Int64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
} as const satisfies Record<string, readonly [bigint, bigint]>;

/** ClickHouse integer types an integer value can be checked against. */
export type SqlIntType = keyof typeof INT_RANGES;

/** A piece of SQL text built only from constant template text and validated values. */
export class Sql {
  /** @internal use the `sql` template, `ident` or `joinSql`; never construct from outside input. */
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** An integer checked against a ClickHouse integer type's range. */
export class SqlInt {
  /** @internal use `int()`. */
  constructor(readonly text: string) {}
}

/** Plain values the escaping helper accepts. */
export type SqlScalar = string | number | bigint | boolean;

/** Anything a `sql` template placeholder accepts. Arrays render as ClickHouse array literals `[a, b]`. */
export type SqlParam = SqlScalar | Sql | SqlInt | readonly SqlScalar[];

/** Error for a value that cannot be inlined into SQL; `details.field` names it when known. */
export class SqlValueError extends ValidationError {
  override name = "SqlValueError";
}

function fail(message: string, field?: string): never {
  throw new SqlValueError(field ? `${field}: ${message}` : message, field ? { field } : undefined);
}

function escapeString(value: string, field?: string): string {
  if (value.length > MAX_STRING_LITERAL) fail(`string longer than ${MAX_STRING_LITERAL} characters`, field);
  let out = "'";
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === "'") out += "\\'";
    // Control characters as \xHH so the SQL text stays one printable line (logs, error messages).
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}'`;
}

function renderNumber(value: number, field?: string): string {
  if (!Number.isFinite(value)) fail(`number must be finite, got ${String(value)}`, field);
  if (Number.isInteger(value)) {
    if (!Number.isSafeInteger(value)) fail(`integer ${value} is outside the safe integer range`, field);
    return String(value);
  }
  // String(n) is the shortest round-trip form; ClickHouse parses its exponent notation too.
  return String(value);
}

function renderBigint(value: bigint, field?: string): string {
  if (value < INT_RANGES.Int64[0] || value > INT_RANGES.UInt64[1])
    fail(`integer ${value} is outside Int64/UInt64`, field);
  return value.toString();
}

/**
 * THE validating escaping helper: renders one value as a SQL literal or throws SqlValueError.
 * Strings are single-quoted with backslash escapes, numbers must be finite (integers safe), bigints fit
 * Int64/UInt64, booleans become 1/0. `field` names the value in error messages.
 */
export function literal(value: unknown, field?: string): string {
  switch (typeof value) {
    case "string":
      return escapeString(value, field);
    case "number":
      return renderNumber(value, field);
    case "bigint":
      return renderBigint(value, field);
    case "boolean":
      return value ? "1" : "0";
    default:
      return fail(`cannot inline a value of type ${value === null ? "null" : typeof value} into SQL`, field);
  }
}

/** An integer range-checked against `type` (e.g. epoch ms as UInt64, a LIMIT as UInt32). */
export function int(value: number | bigint, type: SqlIntType = "Int64", field?: string): SqlInt {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    fail(`expected an integer (${type}), got ${String(value)}`, field);
  }
  if (typeof value !== "number" && typeof value !== "bigint") fail(`expected an integer (${type})`, field);
  const big = BigInt(value);
  const [min, max] = INT_RANGES[type];
  if (big < min || big > max) fail(`integer ${big} is outside ${type} [${min}, ${max}]`, field);
  return new SqlInt(big.toString());
}

/** A validated identifier (database, table, column); several parts are joined with dots (`db.table`). */
export function ident(...parts: string[]): Sql {
  if (parts.length === 0) fail("identifier needs at least one part");
  for (const part of parts) {
    if (typeof part !== "string" || !IDENTIFIER.test(part)) {
      fail(`invalid identifier ${JSON.stringify(part)} (letters, digits, underscore; not starting with a digit)`);
    }
  }
  return new Sql(parts.join("."));
}

/** True when `name` is usable as an identifier (same rule as `ident`). */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

function renderParam(value: SqlParam, index: number): string {
  if (value instanceof Sql || value instanceof SqlInt) return value.text;
  const field = `sql value #${index + 1}`;
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, field)).join(", ")}]`;
  return literal(value, field);
}

/**
 * Tagged template building SQL: the template text is trusted constant code, every `${value}` goes through
 * `literal()` (or is an already-built `Sql`/`SqlInt`). Example: sql`SELECT * FROM t WHERE id = ${id}`.
 */
export function sql(strings: TemplateStringsArray, ...values: SqlParam[]): Sql {
  let text = strings[0] ?? "";
  values.forEach((value, i) => {
    text += renderParam(value, i) + (strings[i + 1] ?? "");
  });
  return new Sql(text);
}

const SEPARATORS = [" AND ", " OR ", ", ", "\n"] as const;

/** Joins built fragments (e.g. optional WHERE conditions) with one of a fixed set of separators. */
export function joinSql(parts: readonly Sql[], separator: (typeof SEPARATORS)[number] = ", "): Sql {
  if (!SEPARATORS.includes(separator)) fail(`unsupported separator ${JSON.stringify(separator)}`);
  for (const p of parts) if (!(p instanceof Sql)) fail("joinSql accepts only Sql fragments");
  return new Sql(parts.map((p) => p.text).join(separator));
}

/** A parenthesised value list for `x IN (...)`; rejects an empty list (ClickHouse would reject `IN ()`). */
export function inList(values: readonly SqlScalar[], field?: string): Sql {
  if (values.length === 0) fail("IN list must not be empty", field);
  return new Sql(`(${values.map((v) => literal(v, field)).join(", ")})`);
}
