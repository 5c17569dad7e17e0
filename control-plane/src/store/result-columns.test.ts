import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { fromDbRow, RESULT_COLUMNS, toDbRow, toTsv, toTsvLine, tsvString } from "./result-columns.js";
import type { ResultRow } from "./types.js";

function sampleRow(over: Partial<ResultRow> = {}): ResultRow {
  return {
    id: "r-1",
    checkId: "web",
    checkVersion: 3,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "aws",
    startedAt: 1_700_000_000_123,
    durationMs: 12.5,
    state: "up",
    reason: "",
    message: "",
    phases: { dnsMs: 1, connectMs: 2.25, tlsMs: 0, ttfbMs: 5, transferMs: 0.5 },
    seq: 42,
    attempts: 1,
    target: "http://127.0.0.1:8081/",
    canary: false,
    lagMs: 0.75,
    httpStatus: 200,
    bodyBytes: 22,
    details: {},
    ...over,
  };
}

describe("result row mapping", () => {
  it("maps every column and back, as ClickHouse returns them (UInt64 as strings)", () => {
    const row = sampleRow({
      canary: true,
      checkUid: "uid-1",
      details: { tls: { protocol: "TLSv1.3", notAfterMs: 1_800_000_000_000 } },
    });
    const db = toDbRow(row);
    expect(Object.keys(db).sort()).toEqual([...RESULT_COLUMNS].sort());
    expect(db).toMatchObject({
      check_id: "web",
      started_at: 1_700_000_000_123,
      canary: 1,
      dns_ms: 1,
      details: JSON.stringify(row.details),
    });
    const fromClickHouse = {
      ...db,
      started_at: String(db.started_at),
      seq: String(db.seq),
      body_bytes: String(db.body_bytes),
    };
    expect(fromDbRow(fromClickHouse)).toEqual(row);
  });

  it("rejects values a column cannot hold, naming the field", () => {
    const cases: [Partial<ResultRow>, string][] = [
      [{ id: "" }, "id"],
      [{ checkId: "" }, "checkId"],
      [{ durationMs: NaN }, "durationMs"],
      [{ lagMs: Infinity }, "lagMs"],
      [{ startedAt: -1 }, "startedAt"],
      [{ seq: 1.5 }, "seq"],
      [{ httpStatus: 2 ** 32 }, "httpStatus"],
      [{ state: "sideways" as never }, "state"],
      [{ phases: { dnsMs: NaN, connectMs: 0, tlsMs: 0, ttfbMs: 0, transferMs: 0 } }, "phases.dnsMs"],
    ];
    for (const [over, field] of cases) {
      for (const encode of [toDbRow, toTsvLine]) {
        try {
          encode(sampleRow(over));
          expect.unreachable(`expected ${field} to be rejected`);
        } catch (err) {
          expect(err).toBeInstanceOf(ValidationError);
          expect((err as ValidationError).details).toEqual({ field });
        }
      }
    }
  });

  it("reads odd stored values safely", () => {
    const row = fromDbRow({ id: "x", state: "weird", details: "not json", canary: 0, started_at: "5" });
    expect(row.state).toBe("down");
    expect(row.details).toEqual({});
    expect(row.startedAt).toBe(5);
    expect(row.phases.dnsMs).toBe(0);
    expect(fromDbRow({ details: "[1,2]" }).details).toEqual({});
  });

  /** ClickHouse's TabSeparated reading of one line: split on tabs, then undo the escapes. */
  function readTsvLine(line: string): string[] {
    const unescape: Record<string, string> = {
      b: "\b",
      f: "\f",
      r: "\r",
      n: "\n",
      t: "\t",
      "0": "\0",
      "\\": "\\",
      "'": "'",
    };
    return line.split("\t").map((f) => f.replace(/\\(.)/gs, (_, c: string) => unescape[c] ?? `\\${c}`));
  }

  const HOSTILE = [
    "tab\there",
    "line\nfeed",
    "cr\r\nlf",
    "back\\slash\\",
    "\\t not a tab",
    "\\",
    "trailing backslash\\",
    "'; DROP TABLE results; --",
    `"double" and 'single' quotes`,
    "nul\u0000byte \b \f",
    "🚀 ünïcödé 中文 \u2028\u2029",
    "",
  ];

  it("escapes every TabSeparated special character and leaves the rest as is", () => {
    expect(tsvString("plain text, 'quotes' \"too\" 🚀")).toBe("plain text, 'quotes' \"too\" 🚀");
    expect(tsvString("a\tb\nc\\d\re\u0000f\bg\fh")).toBe("a\\tb\\nc\\\\d\\re\\0f\\bg\\fh");
    for (const s of HOSTILE) {
      const escaped = tsvString(s);
      expect([...escaped].filter((c) => "\t\n\r\0".includes(c))).toEqual([]);
      expect(readTsvLine(escaped)).toEqual([s]);
    }
  });

  it("writes one line per row with every column in table order, hostile strings intact", () => {
    const rows = HOSTILE.map((s, i) =>
      sampleRow({
        id: `id-${i}${s}`,
        checkId: `c${s}`,
        provider: s,
        reason: s,
        message: s,
        target: `https://x/${s}`,
        checkUid: s,
        details: { dns: { answers: [s] } },
        durationMs: [1e-7, 1e21, 0.1 + 0.2][i % 3]!,
        seq: Number.MAX_SAFE_INTEGER,
        canary: i % 2 === 0,
      }),
    );
    const body = toTsv(rows);
    expect(body.endsWith("\n")).toBe(true);
    const lines = body.slice(0, -1).split("\n");
    expect(lines).toHaveLength(rows.length);
    for (const [i, line] of lines.entries()) {
      const fields = readTsvLine(line);
      expect(fields).toHaveLength(RESULT_COLUMNS.length);
      const db = toDbRow(rows[i]!);
      // Each field is the JSON encoder's value as text: the two formats carry the same row.
      expect(Object.fromEntries(RESULT_COLUMNS.map((c, k) => [c, fields[k]]))).toEqual(
        Object.fromEntries(RESULT_COLUMNS.map((c) => [c, String(db[c])])),
      );
      expect(Number(fields[RESULT_COLUMNS.indexOf("duration_ms")])).toBe(rows[i]!.durationMs);
    }
    expect(toTsv([])).toBe("");
  });
});
