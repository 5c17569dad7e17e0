import { ProbeState, type ProbeResult } from "@probemesh/proto";
import { probeResultFixture, type ProbeResultInit } from "@probemesh/proto/testing";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { toDbRow } from "../store/result-columns.js";
import { MAX_MESSAGE_LENGTH, MAX_STARTED_AT_MS, resultProblem, resultToRow } from "./result-to-row.js";

function result(over: ProbeResultInit = {}): ProbeResult {
  return probeResultFixture({
    id: "r-1",
    checkId: "web",
    checkVersion: 4,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "aws",
    startedAtMs: 1_700_000_000_123n,
    durationMs: 12.5,
    state: ProbeState.DOWN,
    reason: "http_status",
    message: "got 503",
    phases: { dnsMs: 1, connectMs: 2, tlsMs: 3, ttfbMs: 4, transferMs: 5 },
    seq: 77n,
    attempts: 2,
    target: "http://127.0.0.1:8081/",
    canary: true,
    lagMs: 0.5,
    httpStatus: 503,
    bodyBytes: 1234n,
    ...over,
  } as ProbeResultInit);
}

describe("resultToRow", () => {
  it("converts every field of a wire result to the stored row", () => {
    expect(resultToRow(result())).toEqual({
      id: "r-1",
      checkId: "web",
      checkVersion: 4,
      agentId: "agent-eu",
      region: "eu-west",
      provider: "aws",
      startedAt: 1_700_000_000_123,
      durationMs: 12.5,
      state: "down",
      reason: "http_status",
      message: "got 503",
      phases: { dnsMs: 1, connectMs: 2, tlsMs: 3, ttfbMs: 4, transferMs: 5 },
      seq: 77,
      attempts: 2,
      target: "http://127.0.0.1:8081/",
      canary: true,
      lagMs: 0.5,
      httpStatus: 503,
      bodyBytes: 1234,
      details: {},
    });
  });

  it("masks the query values of the probed URL (they may be credentials)", () => {
    const row = resultToRow(
      result({ target: "http://127.0.0.1:8081/h?token=tok-1", message: "redirect loop: http://h/?token=tok-2 again" }),
    );
    expect(row.target).toBe("http://127.0.0.1:8081/h?token=***");
    expect(row.message).toBe("redirect loop: http://h/?token=*** again");
  });

  it("maps states and fills missing phases with zeros", () => {
    expect(resultToRow(result({ state: ProbeState.UP })).state).toBe("up");
    expect(resultToRow(result({ state: ProbeState.DEGRADED })).state).toBe("degraded");
    const r = result();
    delete (r as { phases?: unknown }).phases;
    expect(resultToRow(r).phases).toEqual({ dnsMs: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, transferMs: 0 });
  });

  it("puts type-specific facts into details with numbers, not bigints", () => {
    const row = resultToRow(
      result({
        tls: {
          protocol: "TLSv1.3",
          notAfterMs: 1_800_000_000_000n,
          chainNotAfterMs: 1_790_000_000_000n,
          sans: ["a.test"],
          verified: true,
        } as never,
        dns: { rcode: "NOERROR", answers: ["127.0.0.1"] } as never,
        grpcStatus: "SERVING",
      }),
    );
    expect(row.details).toMatchObject({
      tls: {
        protocol: "TLSv1.3",
        notAfterMs: 1_800_000_000_000,
        chainNotAfterMs: 1_790_000_000_000,
        sans: ["a.test"],
        verified: true,
      },
      dns: { rcode: "NOERROR", answers: ["127.0.0.1"] },
      grpcStatus: "SERVING",
    });
    expect(() => JSON.stringify(row.details)).not.toThrow();
  });

  it("rejects results that fail basic validation, naming the problem", () => {
    const bad: [ProbeResultInit, RegExp][] = [
      [{ id: "" }, /id is empty/],
      [{ checkId: "" }, /checkId is empty/],
      [{ agentId: "" }, /agentId is empty/],
      [{ region: "" }, /region is empty/],
      [{ id: "x".repeat(300) }, /id is longer/],
      [{ state: ProbeState.UNSPECIFIED }, /state 0/],
      [{ state: 99 as ProbeState }, /state 99/],
      [{ startedAtMs: 0n }, /startedAtMs/],
      [{ startedAtMs: 2n ** 60n }, /startedAtMs/],
      // Past the results partition key's DateTime (2106): it would wrap into a bogus day partition.
      [{ startedAtMs: 8_000_000_000_000_000n }, /startedAtMs/],
      [{ startedAtMs: MAX_STARTED_AT_MS + 1n }, /startedAtMs/],
      [{ durationMs: NaN }, /durationMs/],
      [{ durationMs: -1 }, /durationMs/],
      [{ lagMs: Infinity }, /lagMs/],
      [{ seq: 2n ** 63n }, /seq/],
    ];
    for (const [over, message] of bad) {
      expect(resultProblem(result(over))).toMatch(message);
      expect(() => resultToRow(result(over))).toThrow(ValidationError);
    }
    expect(resultProblem(result())).toBeUndefined();
    expect(resultProblem(result({ startedAtMs: MAX_STARTED_AT_MS }))).toBeUndefined();
  });

  it("truncates oversized free text instead of rejecting it", () => {
    const row = resultToRow(result({ message: "m".repeat(10_000) }));
    expect(row.message).toHaveLength(MAX_MESSAGE_LENGTH);
  });

  it("only produces rows the results table accepts", () => {
    expect(() => toDbRow(resultToRow(result()))).not.toThrow();
  });
});
