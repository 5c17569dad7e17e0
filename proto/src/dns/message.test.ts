import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLASS, TYPE } from "./codes.js";
import { decodeMessage, decodeResponse, encodeQuery, encodeReplaceUpdate } from "./message.js";
import { DnsWireError } from "./wire-error.js";

describe("DNS messages", () => {
  it("encodes a recursive query with one question", () => {
    const q = encodeQuery(0x1234, "www.example.test.", TYPE.A);
    expect(q.readUInt16BE(0)).toBe(0x1234);
    expect(q.readUInt16BE(2)).toBe(0x0100);
    expect(q.subarray(12).toString("latin1")).toBe("\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    expect(() => encodeQuery(1, `${"a".repeat(64)}.test`, TYPE.A)).toThrow(DnsWireError);
    expect(() => encodeQuery(1, "a..test", TYPE.A)).toThrow(DnsWireError);
    expect(() => encodeQuery(1, Array<string>(130).fill("a").join("."), TYPE.A)).toThrow(/255 bytes/);
  });

  it("encodes a query to an authoritative server without RD, and decodes it back", () => {
    const q = encodeQuery(0x1234, "www.Example.test.", TYPE.AAAA, { recursionDesired: false });
    expect(q.readUInt16BE(2)).toBe(0);
    expect(decodeMessage(q)).toMatchObject({
      id: 0x1234,
      opcode: 0,
      rcode: 0,
      questions: [{ name: "www.Example.test.", type: TYPE.AAAA, class: CLASS.IN }],
    });
  });

  it("encodes an UPDATE replacing an RRset: zone SOA, delete-RRset, then one add per address", () => {
    const m = decodeMessage(
      encodeReplaceUpdate(7, "example.test.", "www.example.test.", TYPE.A, 30, ["10.0.0.2", "10.0.0.3"]),
    );
    expect(m.opcode).toBe(5);
    expect(m.questions).toEqual([{ name: "example.test.", type: TYPE.SOA, class: CLASS.IN }]);
    expect(m.authority.map((r) => [r.class, r.ttl, r.rdata.length])).toEqual([
      [CLASS.ANY, 0, 0],
      [CLASS.IN, 30, 4],
      [CLASS.IN, 30, 4],
    ]);
    expect(() => encodeReplaceUpdate(7, "example.test.", "www.example.test.", TYPE.A, 30, ["nope"])).toThrow(
      DnsWireError,
    );
  });

  it("refuses a query where a response is expected", () => {
    expect(() => decodeResponse(encodeQuery(1, "example.test.", TYPE.A))).toThrow(/query, not a response/);
  });

  it("rejects a compression pointer loop instead of spinning", () => {
    const msg = Buffer.from([0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12]);
    expect(() => decodeResponse(msg)).toThrow(/loop|past the end/);
    expect(() => decodeMessage(msg)).toThrow(/loop|past the end/);
  });

  it("throws only DnsWireError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        if (buf.length > 2) buf[2] = (buf[2] ?? 0) | 0x80; // mark as a response so decoding goes deep
        for (const decode of [decodeResponse, decodeMessage]) {
          try {
            decode(buf);
          } catch (err) {
            expect(err).toBeInstanceOf(DnsWireError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
