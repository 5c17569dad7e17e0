import { DNS_RCODES, type DnsRecordType } from "../vocabulary.js";

/**
 * Wire codes of the record types a check may ask for. Typed by the vocabulary: a record type added
 * there does not compile until it has a code here (and a renderer in rdata.ts).
 */
export const RECORD_TYPE_CODES: { readonly [T in DnsRecordType]: number } = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  CAA: 257,
};

/** Record types by wire code: the checkable ones and TSIG (RFC 8945). */
export const TYPE = { ...RECORD_TYPE_CODES, TSIG: 250 } as const;
/** Record classes (RFC 1035; NONE and ANY as RFC 2136 uses them). */
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
/** Opcodes (RFC 1035, RFC 2136). */
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

/** Header flag bits. */
export const FLAGS = {
  /** The message is a response. */
  QR: 0x8000,
  /** Truncated: the answer did not fit a UDP datagram. */
  TC: 0x0200,
  /** Recursion desired. */
  RD: 0x0100,
} as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));

/** Name of a record type ("TYPE65" for ones not listed in {@link TYPE}, as RFC 3597 writes them). */
export function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`;
}

// Extended codes that only TSIG's error field carries (RFC 8945).
const TSIG_ERRORS: Readonly<Record<number, string>> = { 16: "BADSIG", 17: "BADKEY", 18: "BADTIME" };

/** Name of a response code or TSIG error ("RCODE15" for unassigned ones). */
export function rcodeName(code: number): string {
  return DNS_RCODES[code] ?? TSIG_ERRORS[code] ?? `RCODE${code}`;
}
