import { isIP } from "node:net";
import type { DnsRecordType } from "../vocabulary.js";
import { RECORD_TYPE_CODES } from "./codes.js";
import { readName } from "./name.js";
import { DnsWireError } from "./wire-error.js";

/** RDATA of an A (dotted quad) or AAAA (IPv6 text) record. Throws DnsWireError for anything else. */
export function addressRdata(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split(".").map(Number));
  if (family === 6) {
    const [head = "", tail = ""] = address.split("::");
    const h = head ? head.split(":") : [];
    const t = address.includes("::") ? (tail ? tail.split(":") : []) : [];
    const groups = address.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
  }
  throw new DnsWireError(`not an IP address: ${JSON.stringify(address.slice(0, 80))}`);
}

/** Text form of an A (4 bytes) or AAAA (16 bytes) RDATA; IPv6 zero runs compressed as RFC 5952 says. */
export function rdataAddress(rdata: Buffer): string {
  if (rdata.length === 4) return [...rdata].join(".");
  if (rdata.length === 16) {
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(rdata.readUInt16BE(i));
    let bestStart = -1;
    let bestLen = 0;
    for (let i = 0; i < 8;) {
      if (groups[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
      i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (bestStart < 0) return hex.join(":");
    return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
  }
  throw new DnsWireError(`not an address RDATA (${rdata.length} bytes)`);
}

/** RDATA of a CAA record (RFC 8659): flags, a tag such as "issue", and its value. */
export function caaRdata(flags: number, tag: string, value: string): Buffer {
  if (!/^[A-Za-z0-9]{1,255}$/.test(tag))
    throw new DnsWireError(`CAA tag ${JSON.stringify(tag.slice(0, 40))} is not 1-255 letters and digits`);
  const tagBytes = Buffer.from(tag, "ascii");
  return Buffer.concat([Buffer.from([flags & 0xff, tagBytes.length]), tagBytes, Buffer.from(value, "utf8")]);
}

/** `"text"` with quotes and backslashes escaped, as zone files (and dig) quote a string. */
function quoted(msg: Buffer, start: number, end: number): string {
  return `"${msg.toString("utf8", start, end).replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function need(ok: boolean, what: string): void {
  if (!ok) throw new DnsWireError(what);
}

/** A name inside RDATA that must end within the record. */
function nameIn(msg: Buffer, start: number, end: number, type: string): string {
  const { name, next } = readName(msg, start);
  need(next <= end, `${type} record runs past its data`);
  return name;
}

type Render = (msg: Buffer, start: number, len: number) => string;

/**
 * Zone-file text of each checkable record type's RDATA, as dig prints it. Typed by the vocabulary:
 * a record type added there does not compile until it renders here.
 */
const RENDER: { readonly [T in DnsRecordType]: Render } = {
  A: (msg, start, len) => {
    need(len === 4, "A record is not 4 bytes");
    return rdataAddress(msg.subarray(start, start + len));
  },
  AAAA: (msg, start, len) => {
    need(len === 16, "AAAA record is not 16 bytes");
    return rdataAddress(msg.subarray(start, start + len));
  },
  NS: (msg, start, len) => nameIn(msg, start, start + len, "NS"),
  CNAME: (msg, start, len) => nameIn(msg, start, start + len, "CNAME"),
  PTR: (msg, start, len) => nameIn(msg, start, start + len, "PTR"),
  MX: (msg, start, len) => {
    need(len >= 3, "MX record too short");
    return `${msg.readUInt16BE(start)} ${nameIn(msg, start + 2, start + len, "MX")}`;
  },
  TXT: (msg, start, len) => {
    const end = start + len;
    const out: string[] = [];
    for (let pos = start; pos < end;) {
      const n = msg[pos]!;
      need(pos + 1 + n <= end, "TXT string runs past its record");
      out.push(quoted(msg, pos + 1, pos + 1 + n));
      pos += 1 + n;
    }
    return out.join(" ");
  },
  SOA: (msg, start, len) => {
    const end = start + len;
    const mname = readName(msg, start);
    const rname = readName(msg, mname.next);
    need(rname.next + 20 <= end, "SOA record too short");
    const nums = [0, 4, 8, 12, 16].map((o) => msg.readUInt32BE(rname.next + o));
    return `${mname.name} ${rname.name} ${nums.join(" ")}`;
  },
  SRV: (msg, start, len) => {
    need(len >= 7, "SRV record too short");
    const [priority, weight, port] = [0, 2, 4].map((o) => msg.readUInt16BE(start + o));
    return `${priority} ${weight} ${port} ${nameIn(msg, start + 6, start + len, "SRV")}`;
  },
  CAA: (msg, start, len) => {
    // <flags> <tag> "<value>" (RFC 8659 section 4.1.1, as dig and miekg/dns print it).
    need(len >= 2, "CAA record too short");
    const tagLen = msg[start + 1]!;
    need(tagLen > 0 && 2 + tagLen <= len, "CAA tag runs past its record");
    const tag = msg.toString("latin1", start + 2, start + 2 + tagLen);
    return `${msg[start]} ${tag} ${quoted(msg, start + 2 + tagLen, start + len)}`;
  },
};

const RENDER_BY_CODE = new Map<number, Render>(
  Object.entries(RENDER).map(([type, render]) => [RECORD_TYPE_CODES[type as DnsRecordType], render]),
);

/**
 * Zone-file text of the RDATA of `len` bytes at `start` in `msg` (names inside it may point
 * anywhere in the message). Types without a renderer are written as RFC 3597 `\# <len> <hex>`.
 * Throws DnsWireError when the RDATA is malformed for its type.
 */
export function rdataText(msg: Buffer, type: number, start: number, len: number): string {
  if (start + len > msg.length) throw new DnsWireError("record data runs past the end of the message");
  const render = RENDER_BY_CODE.get(type);
  if (render) return render(msg, start, len);
  return len === 0 ? "\\# 0" : `\\# ${len} ${msg.toString("hex", start, start + len)}`;
}
