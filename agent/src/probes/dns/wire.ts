import { isIPv4 } from "node:net";

/** Record types a DNS check may ask for, by their wire codes. */
export const RECORD_TYPES: Readonly<Record<string, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
};
const TYPE_NAMES = new Map(Object.entries(RECORD_TYPES).map(([k, v]) => [v, k]));

/** Response codes by value (RFC 1035, 2136). */
export const RCODES = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
  "YXDOMAIN",
  "YXRRSET",
  "NXRRSET",
  "NOTAUTH",
  "NOTZONE",
];

/** Name of a response code ("RCODE15" for unassigned ones). */
export function rcodeName(code: number): string {
  return RCODES[code] ?? `RCODE${code}`;
}

/** Thrown for names or messages that break the wire format. */
export class DnsWireError extends Error {
  override name = "DnsWireError";
}

/** Encodes a standard recursive query with one question (class IN). */
export function encodeQuery(id: number, name: string, qtype: number): Buffer {
  const trimmed = name.replace(/\.$/, "");
  const labels = trimmed === "" ? [] : trimmed.split(".");
  const parts: Buffer[] = [];
  let total = 0;
  for (const label of labels) {
    if (label === "") throw new DnsWireError(`empty label in ${JSON.stringify(name.slice(0, 80))}`);
    const bytes = Buffer.from(label, "utf8");
    if (bytes.length > 63) throw new DnsWireError(`label longer than 63 bytes in ${JSON.stringify(name.slice(0, 80))}`);
    parts.push(Buffer.from([bytes.length]), bytes);
    total += 1 + bytes.length;
  }
  if (total + 1 > 255) throw new DnsWireError("name longer than 255 bytes");
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD: ask the resolver to recurse
  header.writeUInt16BE(1, 4);
  const question = Buffer.alloc(4);
  question.writeUInt16BE(qtype, 0);
  question.writeUInt16BE(1, 2);
  return Buffer.concat([header, ...parts, Buffer.from([0]), question]);
}

/** One answer record, its data rendered as zone-file text. */
export interface DnsAnswer {
  name: string;
  type: string;
  ttl: number;
  data: string;
}

/** The parts of a response a check judges. */
export interface DnsResponse {
  id: number;
  rcode: number;
  /** Truncated: the answer did not fit a UDP datagram. */
  truncated: boolean;
  answers: DnsAnswer[];
}

/** Reads a possibly compressed name at `offset`; returns it (with trailing dot) and the offset after it. */
function readName(buf: Buffer, offset: number): [string, number] {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  for (let jumps = 0; ;) {
    if (pos >= buf.length) throw new DnsWireError("name runs past the end of the message");
    const len = buf[pos]!;
    if (len === 0) {
      pos++;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsWireError("truncated compression pointer");
      if (++jumps > 64) throw new DnsWireError("compression pointer loop");
      if (end < 0) end = pos + 2;
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsWireError("unsupported label type");
    if (pos + 1 + len > buf.length) throw new DnsWireError("label runs past the end of the message");
    labels.push(buf.toString("latin1", pos + 1, pos + 1 + len).replace(/[.\\]/g, (c) => `\\${c}`));
    pos += 1 + len;
  }
  return [labels.length ? `${labels.join(".")}.` : ".", end >= 0 ? end : pos];
}

function ipv6Text(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // Compress the longest run of zero groups (RFC 5952).
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

function characterStrings(buf: Buffer, start: number, end: number): string {
  const out: string[] = [];
  let pos = start;
  while (pos < end) {
    const len = buf[pos]!;
    if (pos + 1 + len > end) throw new DnsWireError("TXT string runs past its record");
    out.push(`"${buf.toString("utf8", pos + 1, pos + 1 + len).replace(/["\\]/g, (c) => `\\${c}`)}"`);
    pos += 1 + len;
  }
  return out.join(" ");
}

function rdataText(buf: Buffer, type: number, start: number, len: number): string {
  const end = start + len;
  switch (type) {
    case 1: {
      if (len !== 4) throw new DnsWireError("A record is not 4 bytes");
      const text = `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
      if (!isIPv4(text)) throw new DnsWireError("bad A record");
      return text;
    }
    case 28:
      if (len !== 16) throw new DnsWireError("AAAA record is not 16 bytes");
      return ipv6Text(buf.subarray(start, end));
    case 2:
    case 5:
      return readName(buf, start)[0];
    case 15: {
      const [exchange] = readName(buf, start + 2);
      return `${buf.readUInt16BE(start)} ${exchange}`;
    }
    case 16:
      return characterStrings(buf, start, end);
    case 6: {
      const [mname, p1] = readName(buf, start);
      const [rname, p2] = readName(buf, p1);
      if (p2 + 20 > end) throw new DnsWireError("SOA record too short");
      const nums = [0, 4, 8, 12, 16].map((o) => buf.readUInt32BE(p2 + o));
      return `${mname} ${rname} ${nums.join(" ")}`;
    }
    case 33: {
      const [target] = readName(buf, start + 6);
      return `${buf.readUInt16BE(start)} ${buf.readUInt16BE(start + 2)} ${buf.readUInt16BE(start + 4)} ${target}`;
    }
    default:
      return `\\# ${len} ${buf.toString("hex", start, end)}`;
  }
}

/** Decodes a response's header and answer section; throws DnsWireError on a malformed message. */
export function decodeResponse(buf: Buffer): DnsResponse {
  if (buf.length < 12) throw new DnsWireError(`message of ${buf.length} bytes is shorter than a header`);
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new DnsWireError("message is a query, not a response");
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = readName(buf, pos)[1] + 4;
    if (pos > buf.length) throw new DnsWireError("question runs past the end of the message");
  }
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < an; i++) {
    const [name, after] = readName(buf, pos);
    if (after + 10 > buf.length) throw new DnsWireError("answer header runs past the end of the message");
    const type = buf.readUInt16BE(after);
    const ttl = buf.readUInt32BE(after + 4);
    const rdlen = buf.readUInt16BE(after + 8);
    const start = after + 10;
    if (start + rdlen > buf.length) throw new DnsWireError("answer data runs past the end of the message");
    answers.push({ name, type: TYPE_NAMES.get(type) ?? `TYPE${type}`, ttl, data: rdataText(buf, type, start, rdlen) });
    pos = start + rdlen;
  }
  return { id, rcode: flags & 0x000f, truncated: (flags & 0x0200) !== 0, answers };
}
