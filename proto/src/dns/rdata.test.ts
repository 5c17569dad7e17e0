import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DNS_RECORD_TYPES } from "../vocabulary.js";
import { CLASS, RECORD_TYPE_CODES, TYPE } from "./codes.js";
import { decodeResponse, encodeHeader, encodeRecord } from "./message.js";
import { encodeName } from "./name.js";
import { addressRdata, caaRdata, rdataAddress } from "./rdata.js";
import { DnsWireError } from "./wire-error.js";

/** A response with one question and the given answer records (owner names uncompressed). */
function response(qtype: number, ...records: Buffer[]): Buffer {
  const question = Buffer.concat([encodeName("q.example.test."), Buffer.from([qtype >> 8, qtype & 0xff, 0, 1])]);
  return Buffer.concat([encodeHeader(1, 0x8180, [1, records.length, 0, 0]), question, ...records]);
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

function answerText(type: number, rdata: Buffer): string {
  const [answer] = decodeResponse(response(type, encodeRecord("q.example.test.", type, CLASS.IN, 60, rdata))).answers;
  return answer!.data;
}

describe("DNS record data", () => {
  it("round-trips addresses, v4 and v6 (zero runs compressed like inet_ntop)", () => {
    for (const a of ["10.0.0.1", "2001:db8::1", "::1", "fe80::1:0:0:2", "2001:db8:0:1:1:1:1:1"]) {
      expect(rdataAddress(addressRdata(a))).toBe(a);
    }
  });

  it("has a wire code for every record type of the vocabulary", () => {
    expect(Object.keys(RECORD_TYPE_CODES).sort()).toEqual([...DNS_RECORD_TYPES].sort());
    expect(RECORD_TYPE_CODES.PTR).toBe(12);
    expect(RECORD_TYPE_CODES.CAA).toBe(257);
  });

  it("renders every type as dig does", () => {
    expect(answerText(TYPE.A, Buffer.from([127, 0, 0, 1]))).toBe("127.0.0.1");
    expect(answerText(TYPE.AAAA, addressRdata("2001:db8::1"))).toBe("2001:db8::1");
    expect(answerText(TYPE.NS, encodeName("ns1.example.test"))).toBe("ns1.example.test.");
    expect(answerText(TYPE.CNAME, encodeName("www.example.test."))).toBe("www.example.test.");
    expect(answerText(TYPE.MX, Buffer.concat([u16(10), encodeName("mail.example.test.")]))).toBe(
      "10 mail.example.test.",
    );
    expect(answerText(TYPE.TXT, Buffer.from('\x0bv=spf1 -all\x04a"\\b'))).toBe('"v=spf1 -all" "a\\"\\\\b"');
    expect(answerText(TYPE.SRV, Buffer.concat([u16(10), u16(5), u16(8080), encodeName("www.example.test.")]))).toBe(
      "10 5 8080 www.example.test.",
    );
    const soa = Buffer.concat([
      encodeName("ns1.example.test."),
      encodeName("hostmaster.example.test."),
      Buffer.alloc(20, 0),
    ]);
    expect(answerText(TYPE.SOA, soa)).toBe("ns1.example.test. hostmaster.example.test. 0 0 0 0 0");
    expect(answerText(65, Buffer.from([1, 2]))).toBe("\\# 2 0102");
  });

  it("encodes and decodes PTR: the target name with a trailing dot", () => {
    const rr = encodeRecord("10.0.0.127.in-addr.arpa.", TYPE.PTR, CLASS.IN, 300, encodeName("www.example.test"));
    const res = decodeResponse(response(TYPE.PTR, rr));
    expect(res.answers).toEqual([
      { name: "10.0.0.127.in-addr.arpa.", type: "PTR", ttl: 300, data: "www.example.test." },
    ]);
    // A compressed target pointing at the question's name.
    const compressed = encodeRecord("x.", TYPE.PTR, CLASS.IN, 1, Buffer.from([0xc0, 12]));
    expect(decodeResponse(response(TYPE.PTR, compressed)).answers[0]?.data).toBe("q.example.test.");
  });

  it('encodes and decodes CAA: <flags> <tag> "<value>"', () => {
    expect(caaRdata(0, "issue", "letsencrypt.org")).toEqual(Buffer.from("\x00\x05issueletsencrypt.org", "latin1"));
    const res = decodeResponse(
      response(
        TYPE.CAA,
        encodeRecord("example.test.", TYPE.CAA, CLASS.IN, 300, caaRdata(0, "issue", "letsencrypt.org")),
        encodeRecord("example.test.", TYPE.CAA, CLASS.IN, 300, caaRdata(128, "iodef", "mailto:sec@example.test")),
        encodeRecord("example.test.", TYPE.CAA, CLASS.IN, 300, caaRdata(0, "issuewild", ";")),
        encodeRecord("example.test.", TYPE.CAA, CLASS.IN, 300, caaRdata(0, "issue", 'a"b')),
      ),
    );
    expect(res.answers.map((a) => [a.type, a.data])).toEqual([
      ["CAA", '0 issue "letsencrypt.org"'],
      ["CAA", '128 iodef "mailto:sec@example.test"'],
      ["CAA", '0 issuewild ";"'],
      ["CAA", '0 issue "a\\"b"'],
    ]);
    expect(() => caaRdata(0, "bad tag", "x")).toThrow(DnsWireError);
  });

  it("refuses record data too short for its type", () => {
    for (const [type, rdata] of [
      [TYPE.A, Buffer.from([1, 2, 3])],
      [TYPE.AAAA, Buffer.alloc(4)],
      [TYPE.MX, Buffer.from([0])],
      [TYPE.SRV, Buffer.alloc(6)],
      [TYPE.CAA, Buffer.from([0])],
      [TYPE.CAA, Buffer.from([0, 9, 0x61])],
      [TYPE.CAA, Buffer.from([0, 0])],
      [TYPE.PTR, Buffer.from([3, 0x61, 0x62])],
      [TYPE.TXT, Buffer.from([5, 0x61])],
    ] as const) {
      expect(() => answerText(type, rdata), `type ${type}`).toThrow(DnsWireError);
    }
  });

  it("renders any bytes of any checkable type or throws DnsWireError", () => {
    const types = Object.values(RECORD_TYPE_CODES);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 64 }), (type, bytes) => {
        try {
          expect(typeof answerText(type, Buffer.from(bytes))).toBe("string");
        } catch (err) {
          expect(err).toBeInstanceOf(DnsWireError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
