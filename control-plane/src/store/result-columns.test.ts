import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { fromDbRow, RESULT_COLUMNS, toDbRow } from "./result-columns.js";
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
      try {
        toDbRow(sampleRow(over));
        expect.unreachable(`expected ${field} to be rejected`);
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).details).toEqual({ field });
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
});
