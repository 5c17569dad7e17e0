import { isIP } from "node:net";

// Just enough of the DNS wire format (RFC 1035, RFC 2136) for the hooks: A/AAAA queries to verify a
// change and UPDATE messages that replace one RRset. Hand-written because no small npm library
// here supports TSIG.

/** Record types used here. */
export const TYPE = { A: 1, SOA: 6, AAAA: 28, TSIG: 250 } as const;
/** Record classes used here. */
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
/** Opcodes used here. */
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;
/** Response codes by number, for messages. */
export const RCODE_NAMES: Record<number, string> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  16: "BADSIG",
  17: "BADKEY",
  18: "BADTIME",
};

/** One resource record as decoded. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
  /** Offset of the record's first byte in the message (TSIG verification needs it). */
  offset: number;
}

/** A decoded DNS message. */
export interface DnsMessage {
  id: number;
  flags: number;
  opcode: number;
  rcode: number;
  questions: { name: string; type: number; class: number }[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** Wire form of a domain name (uncompressed, lower-cased when `canonical`). */
export function encodeName(name: string, canonical = false): Buffer {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (trimmed !== "") {
    for (const label of trimmed.split(".")) {
      const bytes = Buffer.from(canonical ? label.toLowerCase() : label, "ascii");
      if (bytes.length === 0 || bytes.length > 63) throw new RangeError(`bad DNS label in ${JSON.stringify(name)}`);
      parts.push(Buffer.from([bytes.length]), bytes);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Reads a (possibly compressed) name at `offset`; returns it with a trailing dot and the offset after it. */
export function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let jumps = 0; jumps < 64;) {
    const len = msg.readUInt8(pos);
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { name: `${labels.join(".")}.`, next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | msg.readUInt8(pos + 1);
      jumps++;
      continue;
    }
    if (pos + 1 + len > msg.length) throw new RangeError("DNS name runs past the message");
    labels.push(msg.toString("ascii", pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new RangeError("DNS name has too many compression pointers");
}

/** Encodes one resource record. */
export function encodeRecord(name: string, type: number, klass: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

/** RDATA of an A or AAAA record. */
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
  throw new RangeError(`not an IP address: ${JSON.stringify(address)}`);
}

/** Text form of an A (4 bytes) or AAAA (16 bytes) RDATA. */
export function rdataAddress(rdata: Buffer): string {
  if (rdata.length === 4) return [...rdata].join(".");
  if (rdata.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(rdata.readUInt16BE(i).toString(16));
    // Compress the longest run of zero groups, as inet_ntop does.
    let best = { start: -1, len: 0 };
    for (let i = 0; i < 8;) {
      if (groups[i] !== "0") {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === "0") j++;
      if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
      i = j;
    }
    if (best.start < 0) return groups.join(":");
    return `${groups.slice(0, best.start).join(":")}::${groups.slice(best.start + best.len).join(":")}`;
  }
  throw new RangeError(`not an address RDATA (${rdata.length} bytes)`);
}

/** Header bytes for a message. */
export function encodeHeader(id: number, flags: number, counts: [number, number, number, number]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
  return h;
}

/** A standard query for `name`/`type` (recursion not desired: it goes to an authoritative server). */
export function encodeQuery(id: number, name: string, type: number): Buffer {
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(CLASS.IN, 2);
  return Buffer.concat([encodeHeader(id, 0, [1, 0, 0, 0]), encodeName(name), q]);
}

/**
 * An UPDATE (RFC 2136) replacing the `type` RRset of `name` in `zone` by `addresses`: one
 * "delete RRset" and one "add" per address, applied atomically by the server.
 */
export function encodeReplaceUpdate(
  id: number,
  zone: string,
  name: string,
  type: number,
  ttl: number,
  addresses: readonly string[],
): Buffer {
  const zoneSection = Buffer.alloc(4);
  zoneSection.writeUInt16BE(TYPE.SOA, 0);
  zoneSection.writeUInt16BE(CLASS.IN, 2);
  const updates = [
    encodeRecord(name, type, CLASS.ANY, 0, Buffer.alloc(0)),
    ...addresses.map((a) => encodeRecord(name, type, CLASS.IN, ttl, addressRdata(a))),
  ];
  return Buffer.concat([
    encodeHeader(id, OPCODE.UPDATE << 11, [1, 0, updates.length, 0]),
    encodeName(zone),
    zoneSection,
    ...updates,
  ]);
}

function readRecords(msg: Buffer, offset: number, count: number): { records: ResourceRecord[]; next: number } {
  const records: ResourceRecord[] = [];
  let pos = offset;
  for (let i = 0; i < count; i++) {
    const start = pos;
    const { name, next } = readName(msg, pos);
    pos = next;
    if (pos + 10 > msg.length) throw new RangeError("DNS record runs past the message");
    const type = msg.readUInt16BE(pos);
    const klass = msg.readUInt16BE(pos + 2);
    const ttl = msg.readUInt32BE(pos + 4);
    const len = msg.readUInt16BE(pos + 8);
    pos += 10;
    if (pos + len > msg.length) throw new RangeError("DNS RDATA runs past the message");
    records.push({ name, type, class: klass, ttl, rdata: msg.subarray(pos, pos + len), offset: start });
    pos += len;
  }
  return { records, next: pos };
}

/** Decodes a whole message; throws RangeError on malformed input. */
export function decodeMessage(msg: Buffer): DnsMessage {
  if (msg.length < 12) throw new RangeError("DNS message shorter than its header");
  const flags = msg.readUInt16BE(2);
  const [qd, an, ns, ar] = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o)) as [number, number, number, number];
  let pos = 12;
  const questions: DnsMessage["questions"] = [];
  for (let i = 0; i < qd; i++) {
    const { name, next } = readName(msg, pos);
    questions.push({ name, type: msg.readUInt16BE(next), class: msg.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  const answers = readRecords(msg, pos, an);
  const authority = readRecords(msg, answers.next, ns);
  const additional = readRecords(msg, authority.next, ar);
  return {
    id: msg.readUInt16BE(0),
    flags,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    questions,
    answers: answers.records,
    authority: authority.records,
    additional: additional.records,
  };
}
