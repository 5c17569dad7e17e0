import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CheckSchema, ProbeResultSchema, ProbeState } from "@probemesh/proto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createResultBuilder } from "./result-builder.js";
import { openSeqCounter } from "./seq-counter.js";

const dir = mkdtempSync(join(tmpdir(), "builder-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("result builder", () => {
  it("fills every field from the run and stamps a unique id and increasing seq", () => {
    const build = createResultBuilder({
      identity: { agentId: "a1", region: "eu-west", provider: "aws" },
      seq: openSeqCounter({ dir }),
    });
    const check = create(CheckSchema, { id: "web", type: "http", version: 7, canary: true, intervalMs: 1000 });
    const report = {
      check,
      plannedAtMs: 1_700_000_000_000,
      startedAtMs: 1_700_000_000_004,
      lagMs: 4,
      outcome: {
        state: "degraded" as const,
        reason: "" as const,
        message: "x".repeat(600),
        phases: { dnsMs: 1.5, connectMs: 2, ttfbMs: 10 },
        target: "http://127.0.0.1:8081/",
        durationMs: 20.25,
        attempts: 1,
        httpStatus: 200,
        bodyBytes: 1234,
      },
    };
    const a = build(report);
    const b = build(report);
    expect(a.id).not.toBe(b.id);
    expect(b.seq).toBe(a.seq + 1n);
    expect(a).toMatchObject({
      checkId: "web",
      checkVersion: 7,
      agentId: "a1",
      region: "eu-west",
      provider: "aws",
      startedAtMs: 1_700_000_000_004n,
      durationMs: 20.25,
      state: ProbeState.DEGRADED,
      reason: "",
      attempts: 1,
      target: "http://127.0.0.1:8081/",
      canary: true,
      lagMs: 4,
      httpStatus: 200,
      bodyBytes: 1234n,
    });
    expect(a.message).toHaveLength(512);
    expect(a.phases).toMatchObject({ dnsMs: 1.5, connectMs: 2, tlsMs: 0, ttfbMs: 10, transferMs: 0 });
    // Survives the wire.
    const back = fromBinary(ProbeResultSchema, toBinary(ProbeResultSchema, a));
    expect(back.id).toBe(a.id);
    expect(back.seq).toBe(a.seq);
  });
});
