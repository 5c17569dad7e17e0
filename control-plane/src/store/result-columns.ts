// The mapping between ResultRow (API/domain shape) and a row of the `results` table (migrations 001, 003).
import { ValidationError } from "../errors.js";
import { RowBinaryWriter } from "./row-binary.js";
import type { ResultRow } from "./types.js";

/** A `results` row as sent in and read back from JSONEachRow (UInt64 columns come back as strings). */
export interface ResultDbRow {
  id: string;
  check_id: string;
  check_version: number;
  agent_id: string;
  region: string;
  provider: string;
  started_at: number;
  duration_ms: number;
  state: string;
  reason: string;
  message: string;
  dns_ms: number;
  connect_ms: number;
  tls_ms: number;
  ttfb_ms: number;
  transfer_ms: number;
  seq: number;
  attempts: number;
  target: string;
  canary: number;
  lag_ms: number;
  http_status: number;
  body_bytes: number;
  details: string;
  check_uid: string;
}

/** Column list of the `results` table, in table order (used for SELECTs). */
export const RESULT_COLUMNS = [
  "id",
  "check_id",
  "check_version",
  "agent_id",
  "region",
  "provider",
  "started_at",
  "duration_ms",
  "state",
  "reason",
  "message",
  "dns_ms",
  "connect_ms",
  "tls_ms",
  "ttfb_ms",
  "transfer_ms",
  "seq",
  "attempts",
  "target",
  "canary",
  "lag_ms",
  "http_status",
  "body_bytes",
  "details",
  "check_uid",
] as const satisfies readonly (keyof ResultDbRow)[];

const STATES = new Set(["up", "degraded", "down"]);

function finite(value: number, field: string): number {
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new ValidationError(`${field} must be a finite number`, { field });
  return value;
}

function uint(value: number, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ValidationError(`${field} must be an integer in [0, ${max}]`, { field });
  }
  return value;
}

function text(value: string, field: string, required = false): string {
  if (typeof value !== "string") throw new ValidationError(`${field} must be a string`, { field });
  if (required && value === "") throw new ValidationError(`${field} must not be empty`, { field });
  return value;
}

/**
 * Converts a ResultRow to the table's JSONEachRow shape. Throws ValidationError for a value the column
 * cannot hold (NaN, negative counters, unknown state): one bad row would otherwise fail a whole batch
 * insert again and again.
 */
export function toDbRow(row: ResultRow): ResultDbRow {
  if (!STATES.has(row.state)) throw new ValidationError(`state must be up, degraded or down`, { field: "state" });
  const phases = row.phases;
  return {
    id: text(row.id, "id", true),
    check_id: text(row.checkId, "checkId", true),
    check_version: uint(row.checkVersion, "checkVersion", 4_294_967_295),
    agent_id: text(row.agentId, "agentId", true),
    region: text(row.region, "region", true),
    provider: text(row.provider, "provider"),
    started_at: uint(row.startedAt, "startedAt"),
    duration_ms: finite(row.durationMs, "durationMs"),
    state: row.state,
    reason: text(row.reason, "reason"),
    message: text(row.message, "message"),
    dns_ms: finite(phases.dnsMs, "phases.dnsMs"),
    connect_ms: finite(phases.connectMs, "phases.connectMs"),
    tls_ms: finite(phases.tlsMs, "phases.tlsMs"),
    ttfb_ms: finite(phases.ttfbMs, "phases.ttfbMs"),
    transfer_ms: finite(phases.transferMs, "phases.transferMs"),
    seq: uint(row.seq, "seq"),
    attempts: uint(row.attempts, "attempts", 4_294_967_295),
    target: text(row.target, "target"),
    canary: row.canary ? 1 : 0,
    lag_ms: finite(row.lagMs, "lagMs"),
    http_status: uint(row.httpStatus, "httpStatus", 4_294_967_295),
    body_bytes: uint(row.bodyBytes, "bodyBytes"),
    details: detailsJson(row.details),
    check_uid: text(row.checkUid ?? "", "checkUid"),
  };
}

/** TabSeparated escapes (ClickHouse's own): backslash, tab, line feed, carriage return, NUL, backspace, form feed. */
const TSV_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "\t": "\\t",
  "\n": "\\n",
  "\r": "\\r",
  "\0": "\\0",
  "\b": "\\b",
  "\f": "\\f",
};
const TSV_SPECIAL = /[\\\t\n\r\0\b\f]/;
const TSV_SPECIAL_ALL = /[\\\t\n\r\0\b\f]/g;

/**
 * `value` as a TabSeparated String field: every byte ClickHouse's TSV reader treats specially is
 * escaped, so a field never ends early or spans lines; everything else (quotes, any Unicode) goes as
 * is, in UTF-8. (Lone UTF-16 surrogates become U+FFFD when the batch is UTF-8 encoded, as in JSON.)
 */
export function tsvString(value: string): string {
  return TSV_SPECIAL.test(value) ? value.replace(TSV_SPECIAL_ALL, (c) => TSV_ESCAPES[c]!) : value;
}

/**
 * One `results` row as a TabSeparated line (columns in {@link RESULT_COLUMNS} order, no line end),
 * with the same checks as {@link toDbRow}: a value the column cannot hold throws ValidationError.
 * Numbers are JS decimal text (finite, integers within 2^53), which ClickHouse's float and integer
 * parsers read back exactly. (Built as an array joined once: string concatenation here would make
 * ropes that cost more to flatten than JSON.stringify.)
 */
export function toTsvLine(row: ResultRow): string {
  if (!STATES.has(row.state)) throw new ValidationError(`state must be up, degraded or down`, { field: "state" });
  const p = row.phases;
  return [
    tsvString(text(row.id, "id", true)),
    tsvString(text(row.checkId, "checkId", true)),
    uint(row.checkVersion, "checkVersion", 4_294_967_295),
    tsvString(text(row.agentId, "agentId", true)),
    tsvString(text(row.region, "region", true)),
    tsvString(text(row.provider, "provider")),
    uint(row.startedAt, "startedAt"),
    finite(row.durationMs, "durationMs"),
    row.state,
    tsvString(text(row.reason, "reason")),
    tsvString(text(row.message, "message")),
    finite(p.dnsMs, "phases.dnsMs"),
    finite(p.connectMs, "phases.connectMs"),
    finite(p.tlsMs, "phases.tlsMs"),
    finite(p.ttfbMs, "phases.ttfbMs"),
    finite(p.transferMs, "phases.transferMs"),
    uint(row.seq, "seq"),
    uint(row.attempts, "attempts", 4_294_967_295),
    tsvString(text(row.target, "target")),
    row.canary ? 1 : 0,
    finite(row.lagMs, "lagMs"),
    uint(row.httpStatus, "httpStatus", 4_294_967_295),
    uint(row.bodyBytes, "bodyBytes"),
    tsvString(detailsJson(row.details)),
    tsvString(text(row.checkUid ?? "", "checkUid")),
  ].join("\t");
}

/** Rows as a TabSeparated insert body: one {@link toTsvLine} each, every line ending in "\n". */
export function toTsv(rows: readonly ResultRow[]): string {
  return rows.length === 0 ? "" : rows.map(toTsvLine).join("\n") + "\n";
}

/**
 * Rows as a RowBinary insert body (columns in {@link RESULT_COLUMNS} order; the types of migrations
 * 001 and 003), with the same checks as {@link toTsvLine}: a value the column cannot hold throws
 * ValidationError before anything is sent. Cheaper than TabSeparated on both sides: no escaping or
 * number formatting here, no text parsing in ClickHouse.
 */
export function toRowBinary(rows: readonly ResultRow[]): Buffer {
  const w = new RowBinaryWriter(Math.max(4096, rows.length * 256));
  for (const row of rows) {
    if (!STATES.has(row.state)) throw new ValidationError(`state must be up, degraded or down`, { field: "state" });
    const p = row.phases;
    w.string(text(row.id, "id", true));
    w.string(text(row.checkId, "checkId", true));
    w.uint32(uint(row.checkVersion, "checkVersion", 4_294_967_295));
    w.string(text(row.agentId, "agentId", true));
    w.string(text(row.region, "region", true));
    w.string(text(row.provider, "provider"));
    w.uint64(uint(row.startedAt, "startedAt"));
    w.float64(finite(row.durationMs, "durationMs"));
    w.string(row.state);
    w.string(text(row.reason, "reason"));
    w.string(text(row.message, "message"));
    w.float64(finite(p.dnsMs, "phases.dnsMs"));
    w.float64(finite(p.connectMs, "phases.connectMs"));
    w.float64(finite(p.tlsMs, "phases.tlsMs"));
    w.float64(finite(p.ttfbMs, "phases.ttfbMs"));
    w.float64(finite(p.transferMs, "phases.transferMs"));
    w.uint64(uint(row.seq, "seq"));
    w.uint32(uint(row.attempts, "attempts", 4_294_967_295));
    w.string(text(row.target, "target"));
    w.uint8(row.canary ? 1 : 0);
    w.float64(finite(row.lagMs, "lagMs"));
    w.uint32(uint(row.httpStatus, "httpStatus", 4_294_967_295));
    w.uint64(uint(row.bodyBytes, "bodyBytes"));
    w.string(detailsJson(row.details));
    w.string(text(row.checkUid ?? "", "checkUid"));
  }
  return w.bytes();
}

/** `details` as stored: JSON text, "{}" when empty (the common case, without a stringify). */
function detailsJson(details: Record<string, unknown> | undefined): string {
  if (details === undefined) return "{}";
  for (const _ in details) return JSON.stringify(details);
  return "{}";
}

function num(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : 0;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
}

function parseDetails(value: unknown): Record<string, unknown> {
  if (typeof value !== "string" || value === "") return {};
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** Converts a JSONEachRow row of `results` back to a ResultRow (UInt64 strings to numbers, details parsed). */
export function fromDbRow(raw: Record<string, unknown>): ResultRow {
  const state = str(raw.state);
  return {
    id: str(raw.id),
    checkId: str(raw.check_id),
    checkVersion: num(raw.check_version),
    agentId: str(raw.agent_id),
    region: str(raw.region),
    provider: str(raw.provider),
    startedAt: num(raw.started_at),
    durationMs: num(raw.duration_ms),
    state: state === "up" || state === "degraded" ? state : "down",
    reason: str(raw.reason),
    message: str(raw.message),
    phases: {
      dnsMs: num(raw.dns_ms),
      connectMs: num(raw.connect_ms),
      tlsMs: num(raw.tls_ms),
      ttfbMs: num(raw.ttfb_ms),
      transferMs: num(raw.transfer_ms),
    },
    seq: num(raw.seq),
    attempts: num(raw.attempts),
    target: str(raw.target),
    canary: num(raw.canary) !== 0,
    lagMs: num(raw.lag_ms),
    httpStatus: num(raw.http_status),
    bodyBytes: num(raw.body_bytes),
    details: parseDetails(raw.details),
    checkUid: str(raw.check_uid),
  };
}
