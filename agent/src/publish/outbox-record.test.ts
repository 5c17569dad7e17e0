import { toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema } from "@probemesh/proto";
import { probeResultFixture } from "@probemesh/proto/testing";
import { describe, expect, it } from "vitest";
import { decodeOutboxRecord, encodeOutboxRecord, isKeepableSubject } from "./outbox-record.js";

const result = toBinary(ProbeResultSchema, probeResultFixture({ id: "r1" }));

describe("outbox record", () => {
  it("keeps the subject a result was built for", () => {
    const record = encodeOutboxRecord("probemesh.results.eu-west.agent-1.7", result);
    expect(decodeOutboxRecord(record)).toEqual({ subject: "probemesh.results.eu-west.agent-1.7", result });
  });

  it("reads a bare result (written by an earlier release) as a record without a subject", () => {
    expect(decodeOutboxRecord(result)).toEqual({ subject: undefined, result });
    expect(decodeOutboxRecord(new Uint8Array())).toEqual({ subject: undefined, result: new Uint8Array() });
  });

  it("refuses what it cannot read or write", () => {
    expect(() => decodeOutboxRecord(Uint8Array.of(0, 9, 1, 65))).toThrow(/layout 9/);
    expect(() => decodeOutboxRecord(Uint8Array.of(0, 1, 10, 65))).toThrow(/truncated/);
    expect(() => encodeOutboxRecord("a b", result)).toThrow(RangeError);
    expect(() => encodeOutboxRecord("x".repeat(256), result)).toThrow(RangeError);
    expect(isKeepableSubject("x".repeat(255))).toBe(true);
    expect(isKeepableSubject("")).toBe(false);
  });
});
