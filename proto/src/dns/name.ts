import { DnsWireError } from "./wire-error.js";

/** Options of {@link encodeName}. */
export interface EncodeNameOptions {
  /** Lower-case every label (the canonical form TSIG signs, RFC 8945 section 4.3.3). @default false */
  canonical?: boolean;
}

/** Wire form of a domain name, uncompressed; "" and "." are the root. Throws DnsWireError on a bad name. */
export function encodeName(name: string, options: EncodeNameOptions = {}): Buffer {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  let total = 1;
  if (trimmed !== "") {
    for (const label of trimmed.split(".")) {
      if (label === "") throw new DnsWireError(`empty label in ${JSON.stringify(name.slice(0, 80))}`);
      const bytes = Buffer.from(options.canonical ? label.toLowerCase() : label, "utf8");
      if (bytes.length > 63)
        throw new DnsWireError(`label longer than 63 bytes in ${JSON.stringify(name.slice(0, 80))}`);
      parts.push(Buffer.from([bytes.length]), bytes);
      total += 1 + bytes.length;
    }
  }
  if (total > 255) throw new DnsWireError("name longer than 255 bytes");
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/**
 * Reads a possibly compressed name at `offset`: the name with a trailing dot ("." for the root;
 * dots and backslashes inside a label escaped as zone files write them) and the offset after it.
 */
export function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let jumps = 0; ;) {
    if (pos >= msg.length) throw new DnsWireError("name runs past the end of the message");
    const len = msg[pos]!;
    if (len === 0) {
      pos++;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new DnsWireError("truncated compression pointer");
      if (++jumps > 64) throw new DnsWireError("compression pointer loop");
      if (next < 0) next = pos + 2;
      pos = ((len & 0x3f) << 8) | msg[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsWireError("unsupported label type");
    if (pos + 1 + len > msg.length) throw new DnsWireError("label runs past the end of the message");
    labels.push(msg.toString("latin1", pos + 1, pos + 1 + len).replace(/[.\\]/g, (c) => `\\${c}`));
    pos += 1 + len;
  }
  return { name: labels.length ? `${labels.join(".")}.` : ".", next: next >= 0 ? next : pos };
}
