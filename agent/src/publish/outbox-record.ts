// What the publisher writes to the outbox: the subject a result was built for, then the result.
// The outbox itself stays a FIFO of opaque bytes.

/**
 * First byte of a record that carries its subject. A protobuf message never starts with 0 (field
 * number 0 is invalid), so records written by agents that stored bare results still read as such.
 */
const TAGGED = 0x00;
/** Layout version after the tag: `[0x00][0x01][u8 subject length][subject, ASCII][result]`. */
const LAYOUT = 0x01;
/** Longest subject a record holds (result subjects are at most about 150 bytes). */
const MAX_SUBJECT = 255;

/** A result as the outbox replays it. */
export interface OutboxRecord {
  /** The subject it was built for; undefined for a record written before subjects were kept. */
  subject: string | undefined;
  /** The encoded `ProbeResult`. */
  result: Uint8Array;
}

/** True when `subject` fits in a record: 1..255 printable ASCII characters, no spaces. */
export function isKeepableSubject(subject: string): boolean {
  return subject.length <= MAX_SUBJECT && /^[\x21-\x7e]+$/.test(subject);
}

/** The outbox record of `result` (encoded ProbeResult) to be published on `subject`. */
export function encodeOutboxRecord(subject: string, result: Uint8Array): Uint8Array {
  if (!isKeepableSubject(subject))
    throw new RangeError(`subject ${JSON.stringify(subject.slice(0, 300))} cannot be kept in the outbox`);
  const name = Buffer.from(subject, "latin1");
  const out = new Uint8Array(3 + name.length + result.length);
  out[0] = TAGGED;
  out[1] = LAYOUT;
  out[2] = name.length;
  out.set(name, 3);
  out.set(result, 3 + name.length);
  return out;
}

/**
 * Reads a record back. A record that does not start with the tag is a bare result (written by an
 * earlier agent release): its subject is undefined. Throws RangeError on a tagged record it cannot read.
 */
export function decodeOutboxRecord(record: Uint8Array): OutboxRecord {
  if (record.length === 0 || record[0] !== TAGGED) return { subject: undefined, result: record };
  if (record[1] !== LAYOUT) throw new RangeError(`outbox record layout ${record[1]} is unknown`);
  const length = record[2] ?? 0;
  if (length === 0 || record.length < 3 + length) throw new RangeError("outbox record is truncated");
  const subject = Buffer.from(record.subarray(3, 3 + length)).toString("latin1");
  return { subject, result: record.subarray(3 + length) };
}
