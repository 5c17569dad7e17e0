import type { IncomingHttpHeaders } from "node:http";

/** Most bytes of response heads (interim 1xx heads included), and separately of trailers. @default 65536 */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size line, extensions included. */
const MAX_CHUNK_LINE_BYTES = 4096;
/** Most chunk-extension bytes over one body: endless tiny chunks with long extensions are not a body. */
const MAX_CHUNK_EXT_BYTES = 64 * 1024;
/** A chunk size at or above this would lose precision once multiplied by 16 again. */
const CHUNK_SIZE_LIMIT = 2 ** 49;

/** How the body of a response is delimited (RFC 9112 §6.3). */
export type Http1Framing = "none" | "chunked" | "length" | "close";

/** The final (non-1xx) response head. */
export interface Http1ResponseHead {
  /** The x of `HTTP/1.x`. */
  minorVersion: number;
  status: number;
  reason: string;
  /** Node's IncomingMessage shape: lower-case names, Set-Cookie an array, duplicates merged as Node does. */
  headers: IncomingHttpHeaders;
  framing: Http1Framing;
  /** The announced length when `framing` is "length". */
  contentLength?: number;
}

/** Where the parser stands after a `push` or `end`. */
export type Http1ParseStatus = "more" | "complete" | "stopped" | "error";

/** Why a response was rejected. */
export interface Http1ParseError {
  /** head: no valid response head; truncated: the connection closed before the body's end; body: malformed chunked framing. */
  kind: "head" | "truncated" | "body";
  message: string;
}

/** Inputs of `createHttp1ResponseParser`. */
export interface Http1ResponseParserOptions {
  /** The request was HEAD, so the response has no body whatever its headers announce. */
  headRequest: boolean;
  /** Cap on response head bytes (and on trailer bytes). @default MAX_HEAD_BYTES */
  maxHeadBytes?: number;
  /** Called once, with the final response head. */
  onHead: (head: Http1ResponseHead) => void;
  /** Called with each piece of the decoded body; returning false stops the parser ("stopped"). */
  onBody: (chunk: Buffer) => boolean;
}

/** Incremental HTTP/1.x response parser: fed the bytes of one connection, in any pieces. */
export interface Http1ResponseParser {
  /** Parses the next bytes; bytes after a complete response are ignored. */
  push(chunk: Buffer): Http1ParseStatus;
  /** The peer closed the connection: completes a close-delimited body, fails an unfinished one. */
  end(): Http1ParseStatus;
  /** Set once the status is "error". */
  readonly error: Http1ParseError | undefined;
  /** Decoded body bytes handed to `onBody`. */
  readonly bodyBytes: number;
}

/** A strict, incremental parser of one HTTP/1.x response (RFC 9112), pure: no I/O, no timers. */
export function createHttp1ResponseParser(options: Http1ResponseParserOptions): Http1ResponseParser {
  return new ResponseParser(options);
}

// Parser states; plain numbers (states from Complete on are terminal).
const State = {
  Head: 0,
  Length: 1,
  Close: 2,
  ChunkSize: 3,
  ChunkData: 4,
  ChunkDataCr: 5,
  ChunkDataLf: 6,
  Trailers: 7,
  Complete: 8,
  Stopped: 9,
  Error: 10,
} as const;
type State = (typeof State)[keyof typeof State];

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([0-9]) ([0-9]{3})(?: ([\t -~\x80-\xff]*))?$/;
// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ); linear: each
// repetition starts with a mandatory ";", and the line is capped before it gets here.
const CHUNK_EXT =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"))?)*[ \t]*$/;
const DIGITS = /^[0-9]+$/;
const HTTP_PREFIX = "HTTP/1.";
// Node's IncomingMessage keeps the first of these and drops later duplicates.
const FIRST_WINS = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);
// Sentinel results of `readLine`.
const NEED_MORE = -1;
const TOO_LONG = -2;

class ResponseParser implements Http1ResponseParser {
  error: Http1ParseError | undefined;
  bodyBytes = 0;
  private state: State = State.Head;
  private readonly headRequest: boolean;
  private readonly maxHeadBytes: number;
  private readonly onHead: (head: Http1ResponseHead) => void;
  private readonly onBody: (chunk: Buffer) => boolean;
  // The line being read: earlier pieces of it, their byte count (CR/LF included) and the last complete one.
  private partial = "";
  private partialBytes = 0;
  private line = "";
  private seenBytes = false;
  private headBytes = 0;
  private trailerBytes = 0;
  private extBytes = 0;
  // The head being read.
  private statusLineSeen = false;
  private minorVersion = 0;
  private status = 0;
  private reason = "";
  private headers: IncomingHttpHeaders = newHeaders();
  private contentLengths: string[] = [];
  private contentLength = 0;
  private remaining = 0;

  constructor(options: Http1ResponseParserOptions) {
    this.headRequest = options.headRequest;
    this.maxHeadBytes = options.maxHeadBytes ?? MAX_HEAD_BYTES;
    this.onHead = options.onHead;
    this.onBody = options.onBody;
  }

  push(chunk: Buffer): Http1ParseStatus {
    if (this.state >= State.Complete) return this.result();
    if (chunk.length > 0) this.seenBytes = true;
    let pos = 0;
    while (pos < chunk.length && this.state < State.Complete) {
      switch (this.state) {
        case State.Head:
          pos = this.headLine(chunk, pos);
          break;
        case State.Length:
          pos = this.counted(chunk, pos, State.Complete);
          break;
        case State.Close:
          this.deliver(chunk, pos, chunk.length);
          pos = chunk.length;
          break;
        case State.ChunkSize:
          pos = this.chunkSizeLine(chunk, pos);
          break;
        case State.ChunkData:
          pos = this.counted(chunk, pos, State.ChunkDataCr);
          break;
        case State.ChunkDataCr: {
          const b = chunk[pos++];
          if (b === 13) this.state = State.ChunkDataLf;
          else if (b === 10) this.state = State.ChunkSize;
          else this.fail("body", "chunk data is not followed by CRLF");
          break;
        }
        case State.ChunkDataLf:
          if (chunk[pos++] === 10) this.state = State.ChunkSize;
          else this.fail("body", "chunk data is not followed by CRLF");
          break;
        case State.Trailers:
          pos = this.trailerLine(chunk, pos);
          break;
      }
    }
    return this.result();
  }

  /** Hands on up to `remaining` body bytes from `pos`; moves to `next` once they are all through. */
  private counted(chunk: Buffer, pos: number, next: State): number {
    const n = Math.min(this.remaining, chunk.length - pos);
    this.remaining -= n;
    // A refused piece leaves the parser stopped: the loop ends, pos no longer matters.
    if (!this.deliver(chunk, pos, pos + n)) return pos;
    if (this.remaining === 0) this.state = next;
    return pos + n;
  }

  end(): Http1ParseStatus {
    switch (this.state) {
      case State.Head:
        if (!this.seenBytes) this.fail("head", "connection closed before any response byte");
        else
          this.fail(
            "head",
            this.statusLineSeen || this.headBytes > 0
              ? "connection closed inside the response head"
              : "connection closed inside the status line",
          );
        break;
      case State.Length:
        this.fail("truncated", `${this.remaining} of the ${this.contentLength} announced bytes missing`);
        break;
      case State.Close:
        this.state = State.Complete;
        break;
      case State.ChunkSize:
      case State.ChunkData:
      case State.ChunkDataCr:
      case State.ChunkDataLf:
        this.fail("truncated", "chunked body ended without its last chunk");
        break;
      case State.Trailers:
        this.fail("truncated", "chunked body ended inside its trailer section");
        break;
      default:
        break;
    }
    return this.result();
  }

  private result(): Http1ParseStatus {
    switch (this.state) {
      case State.Complete:
        return "complete";
      case State.Stopped:
        return "stopped";
      case State.Error:
        return "error";
      default:
        return "more";
    }
  }

  private fail(kind: Http1ParseError["kind"], message: string): void {
    this.error = { kind, message };
    this.state = State.Error;
  }

  private deliver(chunk: Buffer, start: number, end: number): boolean {
    if (end === start) return true;
    const piece = start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end);
    this.bodyBytes += piece.length;
    if (this.onBody(piece)) return true;
    this.state = State.Stopped;
    return false;
  }

  /**
   * Reads up to the next LF into `this.line` (a trailing CR dropped; RFC 9112 §2.2 lets a recipient
   * accept a bare LF, as Go and browsers do). Returns the position after the LF, NEED_MORE when the
   * chunk ended first (the piece is kept), or TOO_LONG when the line would pass `budget` bytes.
   */
  private readLine(chunk: Buffer, pos: number, budget: number): number {
    const lf = chunk.indexOf(10, pos);
    const end = lf === -1 ? chunk.length : lf;
    const bytes = this.partialBytes + (end - pos) + (lf === -1 ? 0 : 1);
    if (bytes > budget) return TOO_LONG;
    const piece = chunk.toString("latin1", pos, end);
    if (lf === -1) {
      this.partial += piece;
      this.partialBytes = bytes;
      return NEED_MORE;
    }
    let line = this.partial === "" ? piece : this.partial + piece;
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    this.line = line;
    this.partial = "";
    this.partialBytes = 0;
    return lf + 1;
  }

  private headLine(chunk: Buffer, pos: number): number {
    const before = this.partialBytes;
    const next = this.readLine(chunk, pos, this.maxHeadBytes - this.headBytes);
    if (next === TOO_LONG) {
      this.fail("head", `response head larger than ${this.maxHeadBytes} bytes`);
      return chunk.length;
    }
    if (next === NEED_MORE) {
      // Fail a peer that is not speaking HTTP/1.x now rather than at the size cap or the deadline.
      if (!this.statusLineSeen && !HTTP_PREFIX.startsWith(this.partial.slice(0, HTTP_PREFIX.length)))
        this.badStatusLine();
      return chunk.length;
    }
    this.headBytes += next - pos + before;
    const line = this.line;
    if (!this.statusLineSeen) {
      this.statusLine(line);
      return next;
    }
    if (line === "") {
      this.headDone();
      return next;
    }
    const field = this.fieldLine(line, "head", "header");
    if (field) this.addHeader(field[0], field[1]);
    return next;
  }

  private statusLine(line: string): void {
    const m = STATUS_LINE.exec(line);
    const status = m ? Number(m[2]) : 0;
    if (!m || status < 100) {
      this.badStatusLine();
      return;
    }
    this.statusLineSeen = true;
    this.minorVersion = Number(m[1]);
    this.status = status;
    this.reason = m[3] ?? "";
  }

  private badStatusLine(): void {
    this.fail("head", "invalid status line");
  }

  /** Splits a field line into lower-case name and trimmed value, or fails the parse. */
  private fieldLine(line: string, kind: "head" | "body", what: string): [string, string] | undefined {
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) {
      // Obsolete line folding: RFC 9112 §5.2 lets a user agent reject it, and it hides smuggling.
      this.fail(kind, `folded ${what} line (obs-fold)`);
      return undefined;
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) {
      this.fail(kind, `invalid ${what} line`);
      return undefined;
    }
    let start = colon + 1;
    let end = line.length;
    while (start < end && isOws(line.charCodeAt(start))) start++;
    while (end > start && isOws(line.charCodeAt(end - 1))) end--;
    const value = line.slice(start, end);
    // RFC 9110 §5.5: CR, LF and NUL in a value must be rejected; other controls may be kept.
    if (value.includes("\0") || value.includes("\r")) {
      this.fail(kind, `invalid character in ${what} ${name.toLowerCase()}`);
      return undefined;
    }
    return [name.toLowerCase(), value];
  }

  private addHeader(name: string, value: string): void {
    if (name === "content-length") this.contentLengths.push(value);
    const headers = this.headers;
    const prev = headers[name];
    if (prev === undefined) headers[name] = name === "set-cookie" ? [value] : value;
    else if (name === "set-cookie") (prev as string[]).push(value);
    else if (FIRST_WINS.has(name)) return;
    else headers[name] = `${prev as string}${name === "cookie" ? "; " : ", "}${value}`;
  }

  private headDone(): void {
    const status = this.status;
    if (status < 200) {
      if (status === 101) {
        this.fail("head", "unexpected 101 Switching Protocols");
        return;
      }
      // Interim response: its fields are informational; the final head follows.
      this.statusLineSeen = false;
      this.headers = newHeaders();
      this.contentLengths = [];
      return;
    }
    const contentLength = this.parseContentLength();
    if (this.state === State.Error) return;
    let framing: Http1Framing;
    if (this.headRequest || status === 204 || status === 304) framing = "none";
    else if (this.headers["transfer-encoding"] !== undefined) {
      // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length.
      const chunked = this.chunkedFinal(this.headers["transfer-encoding"]);
      if (chunked === undefined) return;
      framing = chunked ? "chunked" : "close";
    } else if (contentLength !== undefined) framing = "length";
    else framing = "close";
    const head: Http1ResponseHead = {
      minorVersion: this.minorVersion,
      status,
      reason: this.reason,
      headers: this.headers,
      framing,
    };
    if (framing === "length") head.contentLength = contentLength;
    this.onHead(head);
    switch (framing) {
      case "none":
        this.state = State.Complete;
        break;
      case "length":
        this.contentLength = contentLength ?? 0;
        this.remaining = this.contentLength;
        this.state = this.remaining === 0 ? State.Complete : State.Length;
        break;
      case "chunked":
        this.state = State.ChunkSize;
        break;
      case "close":
        this.state = State.Close;
        break;
    }
  }

  /** The one length all Content-Length fields agree on; repeats of one value are accepted (RFC 9110 §8.6). */
  private parseContentLength(): number | undefined {
    const fields = this.contentLengths;
    if (fields.length === 0) return undefined;
    if (fields.length === 1 && DIGITS.test(fields[0]!) && fields[0]!.length <= 15) return Number(fields[0]);
    let length: string | undefined;
    for (const field of fields) {
      for (const raw of field.split(",")) {
        const v = raw.trim();
        if (!DIGITS.test(v) || v.length > 15) {
          this.fail("head", "invalid Content-Length");
          return undefined;
        }
        const normal = v.replace(/^0+(?=\d)/, "");
        if (length !== undefined && normal !== length) {
          this.fail("head", "conflicting Content-Length values");
          return undefined;
        }
        length = normal;
      }
    }
    return length === undefined ? undefined : Number(length);
  }

  /**
   * True when chunked is the final transfer coding. Otherwise the body runs to the close (RFC 9112
   * §6.3); chunked applied twice is invalid (§7.1).
   */
  private chunkedFinal(te: string | string[]): boolean | undefined {
    const codings = String(te)
      .split(",")
      .map((c) => c.split(";")[0]!.trim().toLowerCase())
      .filter((c) => c !== "");
    if (codings.filter((c) => c === "chunked").length > 1) {
      this.fail("head", "chunked applied more than once");
      return undefined;
    }
    return codings[codings.length - 1] === "chunked";
  }

  private chunkSizeLine(chunk: Buffer, pos: number): number {
    const next = this.readLine(chunk, pos, MAX_CHUNK_LINE_BYTES);
    if (next === TOO_LONG) {
      this.fail("body", "chunk size line too long");
      return chunk.length;
    }
    if (next === NEED_MORE) return chunk.length;
    const line = this.line;
    let size = 0;
    let i = 0;
    for (; i < line.length; i++) {
      const digit = hexDigit(line.charCodeAt(i));
      if (digit < 0) break;
      if (size >= CHUNK_SIZE_LIMIT) {
        this.fail("body", "chunk size too large");
        return chunk.length;
      }
      size = size * 16 + digit;
    }
    if (i === 0) {
      this.fail("body", "invalid chunk size");
      return chunk.length;
    }
    if (i < line.length) {
      this.extBytes += line.length - i;
      if (this.extBytes > MAX_CHUNK_EXT_BYTES) {
        this.fail("body", `chunk extensions larger than ${MAX_CHUNK_EXT_BYTES} bytes`);
        return chunk.length;
      }
      if (!CHUNK_EXT.test(line.slice(i))) {
        this.fail("body", "invalid chunk extension");
        return chunk.length;
      }
    }
    if (size === 0) this.state = State.Trailers;
    else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return next;
  }

  private trailerLine(chunk: Buffer, pos: number): number {
    const before = this.partialBytes;
    const next = this.readLine(chunk, pos, this.maxHeadBytes - this.trailerBytes);
    if (next === TOO_LONG) {
      this.fail("body", `trailer section larger than ${this.maxHeadBytes} bytes`);
      return chunk.length;
    }
    if (next === NEED_MORE) return chunk.length;
    this.trailerBytes += next - pos + before;
    // Trailers are validated, then dropped: nothing judges them.
    if (this.line === "") this.state = State.Complete;
    else this.fieldLine(this.line, "body", "trailer");
    return next;
  }
}

function newHeaders(): IncomingHttpHeaders {
  // No prototype: a hostile "__proto__" or "constructor" field is just a field.
  return Object.create(null) as IncomingHttpHeaders;
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
