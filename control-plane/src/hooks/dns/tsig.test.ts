import {
  CLASS,
  decodeMessage,
  encodeHeader,
  encodeName,
  encodeRecord,
  encodeReplaceUpdate,
  TYPE,
} from "@probemesh/proto/dns";
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signMessage, verifyResponse } from "./tsig.js";

const key = { name: "probemesh-key", secret: Buffer.alloc(32, 7).toString("base64") };

describe("TSIG", () => {
  it("signs with TSIG and verifies a response signed the way RFC 8945 says a server signs it", () => {
    const now = 1_700_000_000;
    const { signed, mac } = signMessage(
      encodeReplaceUpdate(99, "example.test.", "www.example.test.", TYPE.A, 30, ["10.0.0.2"]),
      key,
      now,
    );
    const req = decodeMessage(signed);
    expect(req.additional.at(-1)?.type).toBe(TYPE.TSIG);
    // Build a server response: header (QR, opcode UPDATE, NOERROR) + zone section, then TSIG over
    // request MAC + response + variables.
    const body = Buffer.concat([
      encodeHeader(99, 0x8000 | (5 << 11), [1, 0, 0, 0]),
      encodeName("example.test."),
      Buffer.from([0, 6, 0, 1]),
    ]);
    const vars = Buffer.concat([
      encodeName(key.name),
      Buffer.from([0, 255, 0, 0, 0, 0]),
      encodeName("hmac-sha256."),
      timeFudge(now),
      Buffer.from([0, 0, 0, 0]),
    ]);
    const respMac = createHmac("sha256", Buffer.from(key.secret, "base64"))
      .update(Buffer.from([0, 32]))
      .update(mac)
      .update(body)
      .update(vars)
      .digest();
    const rdata = Buffer.concat([
      encodeName("hmac-sha256."),
      timeFudge(now),
      Buffer.from([0, 32]),
      respMac,
      Buffer.from([0, 99, 0, 0, 0, 0]),
    ]);
    const response = Buffer.concat([body, encodeRecord(key.name, TYPE.TSIG, CLASS.ANY, 0, rdata)]);
    response.writeUInt16BE(1, 10);
    expect(verifyResponse(response, key, mac, now)).toBeUndefined();
    expect(verifyResponse(response, { ...key, secret: Buffer.alloc(32, 8).toString("base64") }, mac, now)).toMatch(
      /does not verify/,
    );
    expect(verifyResponse(response, key, mac, now + 1000)).toMatch(/fudge/);
    const tampered = Buffer.from(response);
    tampered.writeUInt16BE(0x8000 | (5 << 11) | 5, 2);
    expect(verifyResponse(tampered, key, mac, now)).toMatch(/does not verify/);
  });
});

function timeFudge(now: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUIntBE(now, 0, 6);
  b.writeUInt16BE(300, 6);
  return b;
}
