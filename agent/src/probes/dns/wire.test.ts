import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeResponse, DnsWireError, encodeQuery } from "./wire.js";

describe("dns wire format", () => {
  it("encodes a recursive query with one question", () => {
    const q = encodeQuery(0x1234, "www.example.test.", 1);
    expect(q.readUInt16BE(0)).toBe(0x1234);
    expect(q.readUInt16BE(2)).toBe(0x0100);
    expect(q.subarray(12).toString("latin1")).toBe("\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    expect(() => encodeQuery(1, `${"a".repeat(64)}.test`, 1)).toThrow(DnsWireError);
    expect(() => encodeQuery(1, "a..test", 1)).toThrow(DnsWireError);
  });

  it("rejects a compression pointer loop instead of spinning", () => {
    const msg = Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12]);
    expect(() => decodeResponse(msg)).toThrow(/loop|past the end/);
  });

  it("throws only DnsWireError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        if (buf.length > 2) buf[2] = (buf[2] ?? 0) | 0x80; // mark as a response so decoding goes deep
        try {
          decodeResponse(buf);
        } catch (err) {
          expect(err).toBeInstanceOf(DnsWireError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
