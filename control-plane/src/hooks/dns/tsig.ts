import { createHmac, timingSafeEqual } from "node:crypto";
import { CLASS, decodeMessage, encodeName, encodeRecord, rcodeName, readName, TYPE } from "@probemesh/proto/dns";

// TSIG (RFC 8945) with hmac-sha256: the signer MACs the message (before the TSIG record is
// appended) followed by the "TSIG variables"; a response's MAC also covers the request's MAC.

/** Allowed clock difference between signer and verifier, in seconds. @default 300 */
export const TSIG_FUDGE_SEC = 300;
const ALGORITHM = "hmac-sha256.";

/** A TSIG key: its name (as configured on the server) and base64 secret. */
export interface TsigSecret {
  name: string;
  secret: string;
}

function variables(keyName: string, timeSigned: number, fudge: number, error: number, other: Buffer): Buffer {
  // class ANY (2 bytes) + TTL 0 (4 bytes)
  const cls = Buffer.alloc(6);
  cls.writeUInt16BE(CLASS.ANY, 0);
  cls.writeUInt32BE(0, 2);
  const time = Buffer.alloc(10);
  time.writeUIntBE(timeSigned, 0, 6);
  time.writeUInt16BE(fudge, 6);
  time.writeUInt16BE(error, 8);
  const otherLen = Buffer.alloc(2);
  otherLen.writeUInt16BE(other.length, 0);
  return Buffer.concat([
    encodeName(keyName, { canonical: true }),
    cls,
    encodeName(ALGORITHM, { canonical: true }),
    time,
    otherLen,
    other,
  ]);
}

/** Appends a TSIG record to `message`; returns the signed message and its MAC (to verify the response). */
export function signMessage(message: Buffer, key: TsigSecret, nowSec: number): { signed: Buffer; mac: Buffer } {
  const id = message.readUInt16BE(0);
  const timeSigned = Math.floor(nowSec);
  const mac = createHmac("sha256", Buffer.from(key.secret, "base64"))
    .update(message)
    .update(variables(key.name, timeSigned, TSIG_FUDGE_SEC, 0, Buffer.alloc(0)))
    .digest();
  const time = Buffer.alloc(8);
  time.writeUIntBE(timeSigned, 0, 6);
  time.writeUInt16BE(TSIG_FUDGE_SEC, 6);
  const macLen = Buffer.alloc(2);
  macLen.writeUInt16BE(mac.length, 0);
  const tail = Buffer.alloc(6);
  tail.writeUInt16BE(id, 0);
  tail.writeUInt16BE(0, 2); // error
  tail.writeUInt16BE(0, 4); // other len
  const rdata = Buffer.concat([encodeName(ALGORITHM), time, macLen, mac, tail]);
  const signed = Buffer.concat([message, encodeRecord(key.name, TYPE.TSIG, CLASS.ANY, 0, rdata)]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

/**
 * Checks the TSIG record of a response to a request whose MAC was `requestMac`. Returns undefined
 * when it verifies, else why not (a missing or bad signature, or the TSIG error the server sent).
 */
export function verifyResponse(
  response: Buffer,
  key: TsigSecret,
  requestMac: Buffer,
  nowSec: number,
): string | undefined {
  const msg = decodeMessage(response);
  const tsig = msg.additional.at(-1);
  if (!tsig || tsig.type !== TYPE.TSIG) return "response is not TSIG-signed";
  if (tsig.name.toLowerCase() !== (key.name.endsWith(".") ? key.name : `${key.name}.`).toLowerCase())
    return "response signed with another key";
  const rdataStart = tsig.rdata.byteOffset - response.byteOffset;
  const alg = readName(response, rdataStart);
  let pos = alg.next;
  const timeSigned = response.readUIntBE(pos, 6);
  const fudge = response.readUInt16BE(pos + 6);
  const macLen = response.readUInt16BE(pos + 8);
  const mac = response.subarray(pos + 10, pos + 10 + macLen);
  pos += 10 + macLen;
  const originalId = response.readUInt16BE(pos);
  const error = response.readUInt16BE(pos + 2);
  const otherLen = response.readUInt16BE(pos + 4);
  const other = response.subarray(pos + 6, pos + 6 + otherLen);
  if (error !== 0) return `server answered TSIG error ${rcodeName(error)}`;
  if (alg.name.toLowerCase() !== ALGORITHM) return `response signed with ${alg.name}`;
  // The MAC covers the message as it was before the TSIG record: original id, one fewer additional record.
  const unsigned = Buffer.from(response.subarray(0, tsig.offset));
  unsigned.writeUInt16BE(originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const reqLen = Buffer.alloc(2);
  reqLen.writeUInt16BE(requestMac.length, 0);
  const expected = createHmac("sha256", Buffer.from(key.secret, "base64"))
    .update(reqLen)
    .update(requestMac)
    .update(unsigned)
    .update(variables(key.name, timeSigned, fudge, error, other))
    .digest();
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected))
    return "response TSIG signature does not verify";
  if (Math.abs(nowSec - timeSigned) > fudge) return "response TSIG time is outside the fudge window";
  return undefined;
}
