import { CLASS, FLAGS, OPCODE, TYPE, typeName } from "./codes.js";
import { encodeName, readName } from "./name.js";
import { addressRdata, rdataText } from "./rdata.js";
import { DnsWireError } from "./wire-error.js";

/** One question of a message. */
export interface Question {
  name: string;
  type: number;
  class: number;
}

/** One resource record as decoded, its RDATA raw. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A view into the message (names inside it may be compressed against the whole message). */
  rdata: Buffer;
  /** Offset of the record's first byte in the message (TSIG verification needs it). */
  offset: number;
}

/** A whole decoded message. */
export interface DnsMessage {
  id: number;
  flags: number;
  opcode: number;
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** One answer record, its data rendered as zone-file text. */
export interface DnsAnswer {
  name: string;
  /** Record type name ("A", "CAA", or "TYPE65" for ones without a name here). */
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

/** Header bytes of a message: id, flags, then the counts of question, answer, authority, additional. */
export function encodeHeader(id: number, flags: number, counts: readonly [number, number, number, number]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + i * 2));
  return h;
}

/** Options of {@link encodeQuery}. */
export interface EncodeQueryOptions {
  /** Ask the server to recurse; false for a question to an authoritative server. @default true */
  recursionDesired?: boolean;
}

/** A standard query with one question (class IN). Throws DnsWireError when the name cannot be encoded. */
export function encodeQuery(id: number, name: string, type: number, options: EncodeQueryOptions = {}): Buffer {
  const question = Buffer.alloc(4);
  question.writeUInt16BE(type, 0);
  question.writeUInt16BE(CLASS.IN, 2);
  const flags = (options.recursionDesired ?? true) ? FLAGS.RD : 0;
  return Buffer.concat([encodeHeader(id, flags, [1, 0, 0, 0]), encodeName(name), question]);
}

/** One resource record (owner name uncompressed). */
export function encodeRecord(name: string, type: number, klass: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), fixed, rdata]);
}

/**
 * An UPDATE (RFC 2136) replacing the `type` (A or AAAA) RRset of `name` in `zone` by `addresses`:
 * one "delete RRset" and one "add" per address, applied atomically by the server.
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

function readHeader(msg: Buffer): { id: number; flags: number; counts: [number, number, number, number] } {
  if (msg.length < 12) throw new DnsWireError(`message of ${msg.length} bytes is shorter than a header`);
  const counts = [4, 6, 8, 10].map((o) => msg.readUInt16BE(o)) as [number, number, number, number];
  return { id: msg.readUInt16BE(0), flags: msg.readUInt16BE(2), counts };
}

function readQuestions(msg: Buffer, offset: number, count: number): { questions: Question[]; next: number } {
  const questions: Question[] = [];
  let pos = offset;
  for (let i = 0; i < count; i++) {
    const { name, next } = readName(msg, pos);
    if (next + 4 > msg.length) throw new DnsWireError("question runs past the end of the message");
    questions.push({ name, type: msg.readUInt16BE(next), class: msg.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  return { questions, next: pos };
}

function readRecords(msg: Buffer, offset: number, count: number): { records: ResourceRecord[]; next: number } {
  const records: ResourceRecord[] = [];
  let pos = offset;
  for (let i = 0; i < count; i++) {
    const start = pos;
    const { name, next } = readName(msg, pos);
    if (next + 10 > msg.length) throw new DnsWireError("record header runs past the end of the message");
    const type = msg.readUInt16BE(next);
    const klass = msg.readUInt16BE(next + 2);
    const ttl = msg.readUInt32BE(next + 4);
    const len = msg.readUInt16BE(next + 8);
    pos = next + 10;
    if (pos + len > msg.length) throw new DnsWireError("record data runs past the end of the message");
    records.push({ name, type, class: klass, ttl, rdata: msg.subarray(pos, pos + len), offset: start });
    pos += len;
  }
  return { records, next: pos };
}

/** Decodes a whole message (query or response), RDATA left raw. Throws DnsWireError when malformed. */
export function decodeMessage(msg: Buffer): DnsMessage {
  const { id, flags, counts } = readHeader(msg);
  const [qd, an, ns, ar] = counts;
  const questions = readQuestions(msg, 12, qd);
  const answers = readRecords(msg, questions.next, an);
  const authority = readRecords(msg, answers.next, ns);
  const additional = readRecords(msg, authority.next, ar);
  return {
    id,
    flags,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    questions: questions.questions,
    answers: answers.records,
    authority: authority.records,
    additional: additional.records,
  };
}

/**
 * Decodes a response's header and answer section, each answer's data rendered as zone-file text
 * (the sections after it are not read). Throws DnsWireError on a query or a malformed message.
 */
export function decodeResponse(msg: Buffer): DnsResponse {
  const { id, flags, counts } = readHeader(msg);
  if ((flags & FLAGS.QR) === 0) throw new DnsWireError("message is a query, not a response");
  const [qd, an] = counts;
  const { next } = readQuestions(msg, 12, qd);
  const { records } = readRecords(msg, next, an);
  const answers = records.map((rr) => ({
    name: rr.name,
    type: typeName(rr.type),
    ttl: rr.ttl,
    data: rdataText(msg, rr.type, rr.rdata.byteOffset - msg.byteOffset, rr.rdata.length),
  }));
  return { id, rcode: flags & 0xf, truncated: (flags & FLAGS.TC) !== 0, answers };
}
