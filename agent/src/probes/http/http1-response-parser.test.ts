import fc from "fast-check";
import { request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import {
  createHttp1ResponseParser,
  MAX_HEAD_BYTES,
  type Http1ParseError,
  type Http1ParseStatus,
  type Http1ResponseHead,
} from "./http1-response-parser.js";

interface Outcome {
  status: Http1ParseStatus;
  head?: Omit<Http1ResponseHead, "headers"> & { headers: Record<string, unknown> };
  body: string;
  bodyBytes: number;
  error?: Http1ParseError;
  /** How many times onHead was called. */
  heads: number;
}

interface Options {
  headRequest?: boolean;
  /** Signal the peer's close after the last piece. */
  eof?: boolean;
  /** Body bytes after which onBody asks to stop. */
  stopAfter?: number;
  maxHeadBytes?: number;
}

/** Feeds `pieces` one by one, stopping at the first terminal status, as request-hop does. */
function feed(pieces: Buffer[], opts: Options = {}): Outcome {
  const out: Outcome = { status: "more", body: "", bodyBytes: 0, heads: 0 };
  const body: Buffer[] = [];
  let received = 0;
  const parser = createHttp1ResponseParser({
    headRequest: opts.headRequest ?? false,
    ...(opts.maxHeadBytes ? { maxHeadBytes: opts.maxHeadBytes } : {}),
    onHead: (head) => {
      out.heads++;
      out.head = { ...head, headers: { ...head.headers } };
    },
    onBody: (chunk) => {
      body.push(Buffer.from(chunk));
      received += chunk.length;
      return opts.stopAfter === undefined || received <= opts.stopAfter;
    },
  });
  for (const piece of pieces) {
    out.status = parser.push(piece);
    if (out.status !== "more") break;
  }
  if (opts.eof && out.status === "more") out.status = parser.end();
  out.body = Buffer.concat(body).toString("latin1");
  out.bodyBytes = parser.bodyBytes;
  if (parser.error) out.error = parser.error;
  return out;
}

/**
 * Parses `input` whole, byte by byte, and split in two at every byte boundary; every way must
 * give the same outcome, which is returned.
 */
function parse(input: string | Buffer, opts: Options = {}): Outcome {
  const bytes = typeof input === "string" ? Buffer.from(input, "latin1") : input;
  const whole = feed([bytes], opts);
  expect(
    feed(
      [...bytes].map((b) => Buffer.from([b])),
      opts,
    ),
    "byte by byte",
  ).toEqual(whole);
  for (let i = 1; i < bytes.length; i++) {
    expect(feed([bytes.subarray(0, i), bytes.subarray(i)], opts), `split at ${i}`).toEqual(whole);
  }
  return whole;
}

const crlf = (lines: string[]) => lines.join("\r\n");

describe("http1 response parser: framing", () => {
  it("reads a Content-Length body and ignores bytes after it", () => {
    const o = parse(crlf(["HTTP/1.1 200 OK", "Content-Length: 5", "X-A: b", "", "helloEXTRA"]));
    expect(o).toMatchObject({ status: "complete", body: "hello", bodyBytes: 5, heads: 1 });
    expect(o.head).toMatchObject({
      status: 200,
      reason: "OK",
      minorVersion: 1,
      framing: "length",
      contentLength: 5,
      headers: { "content-length": "5", "x-a": "b" },
    });
  });

  it("completes at the head for Content-Length 0", () => {
    expect(parse(crlf(["HTTP/1.1 200 OK", "Content-Length: 0", "", ""]))).toMatchObject({
      status: "complete",
      body: "",
      bodyBytes: 0,
    });
  });

  it("reads a body without length until the peer closes", () => {
    const open = parse(crlf(["HTTP/1.0 200 OK", "Server: x", "", "abc"]));
    expect(open).toMatchObject({ status: "more", body: "abc" });
    const closed = parse(crlf(["HTTP/1.0 200 OK", "Server: x", "", "abc"]), { eof: true });
    expect(closed).toMatchObject({ status: "complete", body: "abc", bodyBytes: 3 });
    expect(closed.head).toMatchObject({ minorVersion: 0, framing: "close" });
  });

  it("decodes chunked bodies with extensions and trailers", () => {
    const o = parse(
      crlf([
        "HTTP/1.1 200 OK",
        "Transfer-Encoding: chunked",
        "",
        '5;foo=bar;baz="q\\"x; y"',
        "hello",
        "6 ; a = b ;flag",
        " world",
        "0",
        "X-Trailer: t",
        "Another: u",
        "",
        "",
      ]),
    );
    expect(o).toMatchObject({ status: "complete", body: "hello world", bodyBytes: 11 });
    expect(o.head).toMatchObject({ framing: "chunked", headers: { "transfer-encoding": "chunked" } });
    expect(o.head!.headers["x-trailer"]).toBeUndefined();
  });

  it("decodes chunked bodies with upper- and lower-case hex sizes and leading zeros", () => {
    const data = "x".repeat(0x1a);
    const o = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "1A", data, "001a", data, "0", "", ""]));
    expect(o).toMatchObject({ status: "complete", bodyBytes: 52, body: data + data });
  });

  it("counts decoded, not wire, bytes of a chunked body", () => {
    const o = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "3", "abc", "0", "", ""]));
    expect(o.bodyBytes).toBe(3);
  });

  it("lets chunked win over Content-Length (RFC 9112 §6.3)", () => {
    const o = parse(
      crlf(["HTTP/1.1 200 OK", "Content-Length: 100", "Transfer-Encoding: chunked", "", "2", "ok", "0", "", ""]),
    );
    expect(o).toMatchObject({ status: "complete", body: "ok" });
    expect(o.head!.framing).toBe("chunked");
  });

  it("reads until close when chunked is not the final transfer coding", () => {
    const o = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: gzip", "Content-Length: 2", "", "zzzz"]), {
      eof: true,
    });
    expect(o).toMatchObject({ status: "complete", body: "zzzz" });
    expect(o.head!.framing).toBe("close");
    expect(
      parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked", "", "1", "z", "0", "", ""])),
    ).toMatchObject({ status: "complete", body: "z" });
  });

  it("rejects chunked applied twice", () => {
    for (const te of ["chunked, chunked", "chunked, gzip, chunked"]) {
      expect(parse(crlf(["HTTP/1.1 200 OK", `Transfer-Encoding: ${te}`, "", ""])).error).toEqual({
        kind: "head",
        message: "chunked applied more than once",
      });
    }
    const split = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked", "", ""]));
    expect(split.error?.kind).toBe("head");
  });

  it("skips 1xx interim responses and reports the final one", () => {
    const o = parse(
      crlf([
        "HTTP/1.1 100 Continue",
        "",
        "HTTP/1.1 103 Early Hints",
        "Link: </a.css>; rel=preload",
        "",
        "HTTP/1.1 200 OK",
        "Content-Length: 2",
        "",
        "ok",
      ]),
    );
    expect(o).toMatchObject({ status: "complete", body: "ok", heads: 1 });
    expect(o.head!.status).toBe(200);
    expect(o.head!.headers).toEqual({ "content-length": "2" });
  });

  it("fails on 101 Switching Protocols", () => {
    expect(parse(crlf(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "", ""])).error).toEqual({
      kind: "head",
      message: "unexpected 101 Switching Protocols",
    });
  });

  it("reads no body for HEAD, 204 and 304 whatever the headers say", () => {
    const head = parse(crlf(["HTTP/1.1 200 OK", "Content-Length: 1000", "", ""]), { headRequest: true });
    expect(head).toMatchObject({ status: "complete", bodyBytes: 0 });
    expect(head.head).toMatchObject({ framing: "none", headers: { "content-length": "1000" } });
    expect(parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", ""]), { headRequest: true }).status).toBe(
      "complete",
    );
    expect(parse(crlf(["HTTP/1.1 204 No Content", "Content-Length: 10", "", "junk"])).status).toBe("complete");
    expect(parse(crlf(["HTTP/1.1 304 Not Modified", "Transfer-Encoding: chunked", "", ""])).status).toBe("complete");
  });

  it("accepts bare LF line endings (RFC 9112 §2.2)", () => {
    const o = parse("HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok");
    expect(o).toMatchObject({ status: "complete", body: "ok", head: { headers: { "x-a": "b" } } });
    const chunked = parse("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n");
    expect(chunked).toMatchObject({ status: "complete", body: "ok" });
  });

  it("stops at once when onBody says so", () => {
    const o = feed(
      [
        Buffer.from(
          crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "3", "abc", "3", "def", "3", "ghi", "0", "", ""]),
        ),
      ],
      { stopAfter: 4 },
    );
    expect(o).toMatchObject({ status: "stopped", body: "abcdef", bodyBytes: 6 });
    const length = feed([Buffer.from("HTTP/1.1 200 OK\r\n\r\n"), Buffer.from("abc"), Buffer.from("def")], {
      stopAfter: 2,
    });
    expect(length).toMatchObject({ status: "stopped", body: "abc" });
  });

  it("reads a large body split at random places", () => {
    const data = Buffer.alloc(20_000, 0x61);
    const chunked = Buffer.concat([
      Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
      ...[7000, 13000].flatMap((n) => [Buffer.from(`${n.toString(16)}\r\n`), data.subarray(0, n), Buffer.from("\r\n")]),
      Buffer.from("0\r\n\r\n"),
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: chunked.length - 1 }), { maxLength: 20 }), (cuts) => {
        const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), chunked.length];
        const pieces = points.slice(1).map((end, i) => chunked.subarray(points[i], end));
        const o = feed(pieces);
        expect(o.status).toBe("complete");
        expect(o.bodyBytes).toBe(20_000);
      }),
      { numRuns: 200 },
    );
  });
});

describe("http1 response parser: headers", () => {
  it("merges duplicates as node:http does", () => {
    const o = parse(
      crlf([
        "HTTP/1.1 200 OK",
        "X-A: 1",
        "x-a: 2",
        "Set-Cookie: a=1",
        "SET-COOKIE: b=2",
        "Location: /first",
        "Location: /second",
        "Content-Type: text/plain",
        "Content-Type: text/html",
        "Vary: accept",
        "Vary: origin",
        "Cookie: c=1",
        "Cookie: d=2",
        "Content-Length: 0",
        "",
        "",
      ]),
    );
    expect(o.head!.headers).toEqual({
      "x-a": "1, 2",
      "set-cookie": ["a=1", "b=2"],
      location: "/first",
      "content-type": "text/plain",
      vary: "accept, origin",
      cookie: "c=1; d=2",
      "content-length": "0",
    });
  });

  it("keeps a single Set-Cookie as an array and trims optional whitespace", () => {
    const o = parse(
      crlf(["HTTP/1.1 200 OK", "Set-Cookie: a=1", "X-Pad: \t  v  w \t", "X-Empty:", "Content-Length: 0", "", ""]),
    );
    expect(o.head!.headers).toEqual({ "set-cookie": ["a=1"], "x-pad": "v  w", "x-empty": "", "content-length": "0" });
  });

  it("treats __proto__ and constructor as plain fields", () => {
    const o = parse(
      crlf(["HTTP/1.1 200 OK", "__proto__: x", "Constructor: y", "toString: z", "Content-Length: 0", "", ""]),
    );
    expect(o.status).toBe("complete");
    expect(Object.entries(o.head!.headers)).toEqual([
      ["__proto__", "x"],
      ["constructor", "y"],
      ["tostring", "z"],
      ["content-length", "0"],
    ]);
  });

  it("gives the same headers as node:http for the same response", async () => {
    const head = crlf([
      "HTTP/1.1 200 OK",
      "X-A: 1",
      "X-A: 2",
      "Set-Cookie: a=1",
      "Set-Cookie: b=2",
      "Location: /one",
      "Location: /two",
      "Server: s1",
      "Server: s2",
      "Age: 1",
      "Age: 2",
      "Link: <a>",
      "Link: <b>",
      "X-Trim:   t  ",
      "Content-Length: 2",
      "",
      "ok",
    ]);
    const server = createServer((sock) => {
      sock.on("error", () => {});
      sock.once("data", () => sock.end(head));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const nodeHeaders = await new Promise<Record<string, unknown>>((resolve, reject) => {
        request({ host: "127.0.0.1", port, path: "/" }, (res) => {
          res.resume();
          resolve({ ...res.headers });
        })
          .on("error", reject)
          .end();
      });
      expect(parse(head).head!.headers).toEqual(nodeHeaders);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("http1 response parser: rejects", () => {
  const headError = (input: string, opts: Options = {}) => {
    const o = parse(input, opts);
    expect(o.status).toBe("error");
    expect(o.heads).toBe(0);
    expect(o.error!.kind).toBe("head");
    return o.error!.message;
  };

  it("rejects invalid status lines", () => {
    for (const line of [
      "HTTP/2 200 OK",
      "HTTP/2.0 200 OK",
      "HTTP/1.1 20 OK",
      "HTTP/1.1 2000 OK",
      "HTTP/1.1 099 Low",
      "http/1.1 200 OK",
      "HTTP/1.1  200 OK",
      "ICY 200 OK",
      "HTTP/1.1 200 O\rK",
      "HTTP/1.1 abc OK",
      "",
    ]) {
      expect(headError(crlf([line, "Content-Length: 0", "", ""])), line).toBe("invalid status line");
    }
    expect(parse(crlf(["HTTP/1.1 200", "Content-Length: 0", "", ""])).head).toMatchObject({ status: 200, reason: "" });
    expect(parse(crlf(["HTTP/1.1 599 Whatever it is", "Content-Length: 0", "", ""])).head).toMatchObject({
      status: 599,
      reason: "Whatever it is",
    });
  });

  it("fails a peer not speaking HTTP at its first bytes, not at the cap or the deadline", () => {
    const o = feed([Buffer.from("SSH-2.0-OpenSSH_9.2")]);
    expect(o).toMatchObject({ status: "error", error: { kind: "head", message: "invalid status line" } });
    expect(feed([Buffer.from([0x16, 0x03, 0x01, 0x00])]).status).toBe("error");
    expect(feed([Buffer.from("HTTP/1.")]).status).toBe("more");
  });

  it("caps the response head at 64 KiB, interim heads included", () => {
    const big = `X-Big: ${"a".repeat(MAX_HEAD_BYTES)}`;
    expect(feed([Buffer.from(crlf(["HTTP/1.1 200 OK", big, "", ""]))]).error).toEqual({
      kind: "head",
      message: "response head larger than 65536 bytes",
    });
    // Every split of a smaller head under a smaller cap gives the same verdict.
    expect(headError(crlf(["HTTP/1.1 200 OK", `X-A: ${"b".repeat(200)}`, "", ""]), { maxHeadBytes: 100 })).toBe(
      "response head larger than 100 bytes",
    );
    const lines = ["X-A", "X-B", "X-C"].map((n) => `${n}: ${"v".repeat(30)}`);
    expect(headError(crlf(["HTTP/1.1 200 OK", ...lines, "", ""]), { maxHeadBytes: 100 })).toBe(
      "response head larger than 100 bytes",
    );
    // Fails as soon as the cap is passed, without waiting for the end of the line.
    expect(feed([Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES)}`)]).error?.message).toBe(
      "response head larger than 65536 bytes",
    );
    const many = Array.from({ length: 2000 }, (_, i) => `X-${i}: ${"v".repeat(30)}`);
    expect(feed([Buffer.from(crlf(["HTTP/1.1 200 OK", ...many, "", ""]))]).error?.message).toBe(
      "response head larger than 65536 bytes",
    );
    const interim = crlf(["HTTP/1.1 100 Continue", `X-Pad: ${"p".repeat(40_000)}`, "", ""]);
    expect(feed([Buffer.from(interim + interim + "HTTP/1.1 200 OK\r\n\r\n")]).error?.message).toBe(
      "response head larger than 65536 bytes",
    );
    // Just under the cap is fine.
    const fits = crlf(["HTTP/1.1 200 OK", `X-Big: ${"a".repeat(MAX_HEAD_BYTES - 50)}`, "Content-Length: 0", "", ""]);
    expect(feed([Buffer.from(fits)]).status).toBe("complete");
  });

  it("rejects folded, nameless and malformed header lines", () => {
    expect(headError(crlf(["HTTP/1.1 200 OK", "X-A: one", " two", "", ""]))).toBe("folded header line (obs-fold)");
    expect(headError(crlf(["HTTP/1.1 200 OK", "X-A: one", "\ttwo", "", ""]))).toBe("folded header line (obs-fold)");
    expect(headError(crlf(["HTTP/1.1 200 OK", "no colon here", "", ""]))).toBe("invalid header line");
    expect(headError(crlf(["HTTP/1.1 200 OK", ": value", "", ""]))).toBe("invalid header line");
    expect(headError(crlf(["HTTP/1.1 200 OK", "X-A : value", "", ""]))).toBe("invalid header line");
    expect(headError(crlf(["HTTP/1.1 200 OK", "X(A): value", "", ""]))).toBe("invalid header line");
    expect(headError(crlf(["HTTP/1.1 200 OK", "X-A: v\0w", "", ""]))).toBe("invalid character in header x-a");
    expect(headError(crlf(["HTTP/1.1 200 OK", "X-A: v\rw", "", ""]))).toBe("invalid character in header x-a");
  });

  it("rejects invalid or conflicting Content-Length", () => {
    for (const v of ["-1", "abc", "1.5", "+5", "0x10", "", "5 5", "1234567890123456", "5,", "5;q"]) {
      expect(headError(crlf(["HTTP/1.1 200 OK", `Content-Length: ${v}`, "", "hello"])), v).toBe(
        "invalid Content-Length",
      );
    }
    expect(headError(crlf(["HTTP/1.1 200 OK", "Content-Length: 5, 6", "", "hello"]))).toBe(
      "conflicting Content-Length values",
    );
    expect(headError(crlf(["HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 6", "", "hello"]))).toBe(
      "conflicting Content-Length values",
    );
    // The same value repeated is one length (RFC 9110 §8.6).
    expect(parse(crlf(["HTTP/1.1 200 OK", "Content-Length: 5, 5", "", "hello"]))).toMatchObject({
      status: "complete",
      body: "hello",
    });
    expect(parse(crlf(["HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 05", "", "hello"]))).toMatchObject({
      status: "complete",
      body: "hello",
    });
  });

  it("reports a connection closed before or inside the head", () => {
    expect(feed([], { eof: true }).error).toEqual({
      kind: "head",
      message: "connection closed before any response byte",
    });
    expect(parse("HTTP/1.1 200", { eof: true }).error).toEqual({
      kind: "head",
      message: "connection closed inside the status line",
    });
    expect(parse("HTTP/1.1 200 OK\r\nX-A: b\r\n", { eof: true }).error).toEqual({
      kind: "head",
      message: "connection closed inside the response head",
    });
    expect(parse("HTTP/1.1 100 Continue\r\n\r\n", { eof: true }).error?.kind).toBe("head");
  });

  it("reports truncated bodies", () => {
    const length = parse(crlf(["HTTP/1.1 200 OK", "Content-Length: 10000", "", "a".repeat(100)]), { eof: true });
    expect(length).toMatchObject({
      status: "error",
      bodyBytes: 100,
      error: { kind: "truncated", message: "9900 of the 10000 announced bytes missing" },
    });
    expect(length.head?.status).toBe(200);
    for (const cut of ["5\r\nhel", "5\r\nhello", "5\r\nhello\r", "5\r\nhello\r\n", "5\r\nhello\r\n0"]) {
      const o = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", cut]), { eof: true });
      expect(o.error, cut).toEqual({ kind: "truncated", message: "chunked body ended without its last chunk" });
    }
    const trailers = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "0", "X-T: 1", ""]), {
      eof: true,
    });
    expect(trailers.error).toEqual({ kind: "truncated", message: "chunked body ended inside its trailer section" });
  });

  it("rejects malformed chunked framing", () => {
    const chunked = (...lines: string[]) =>
      parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", ...lines]));
    const bodyError = (o: Outcome) => {
      expect(o.status).toBe("error");
      expect(o.error!.kind).toBe("body");
      return o.error!.message;
    };
    expect(bodyError(chunked("zz", "", ""))).toBe("invalid chunk size");
    expect(bodyError(chunked("", ""))).toBe("invalid chunk size");
    expect(bodyError(chunked("-5", "hello", "0", "", ""))).toBe("invalid chunk size");
    expect(bodyError(chunked(" 5", "hello", "0", "", ""))).toBe("invalid chunk size");
    expect(bodyError(chunked("5", "helloX", "0", "", ""))).toBe("chunk data is not followed by CRLF");
    expect(bodyError(chunked("5", "hello\rX0", "", ""))).toBe("chunk data is not followed by CRLF");
    expect(bodyError(chunked("fffffffffffffffffff", ""))).toBe("chunk size too large");
    expect(bodyError(chunked("5;", "hello", "0", "", ""))).toBe("invalid chunk extension");
    expect(bodyError(chunked("5;=x", "hello", "0", "", ""))).toBe("invalid chunk extension");
    expect(bodyError(chunked("5 x", "hello", "0", "", ""))).toBe("invalid chunk extension");
    expect(bodyError(chunked('5;a="open', "hello", "0", "", ""))).toBe("invalid chunk extension");
    expect(bodyError(chunked("5;a=b\0", "hello", "0", "", ""))).toBe("invalid chunk extension");
    expect(bodyError(chunked(`5;a=${"b".repeat(5000)}`, "hello", "0", "", ""))).toBe("chunk size line too long");
    expect(bodyError(chunked("0", "X-T: a", " folded", "", ""))).toBe("folded trailer line (obs-fold)");
    expect(bodyError(chunked("0", "bad trailer", "", ""))).toBe("invalid trailer line");
    // Slow drip of tiny chunks with long extensions: capped over the whole body.
    const drip = Array.from({ length: 40 }, () => `1;e=${"x".repeat(2000)}\r\nz`).join("\r\n");
    expect(feed([Buffer.from(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", drip]))]).error?.message).toBe(
      "chunk extensions larger than 65536 bytes",
    );
  });

  it("caps the trailer section", () => {
    const o = feed([
      Buffer.from(
        crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "0", `X-T: ${"t".repeat(MAX_HEAD_BYTES)}`, "", ""]),
      ),
    ]);
    expect(o.error).toEqual({ kind: "body", message: "trailer section larger than 65536 bytes" });
    const lines = ["X-A", "X-B", "X-C"].map((n) => `${n}: ${"v".repeat(30)}`);
    const small = parse(crlf(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "", "0", ...lines, "", ""]), {
      maxHeadBytes: 100,
    });
    expect(small.error).toEqual({ kind: "body", message: "trailer section larger than 100 bytes" });
  });

  it("stays in its terminal state", () => {
    const parser = createHttp1ResponseParser({ headRequest: false, onHead: () => {}, onBody: () => true });
    expect(parser.push(Buffer.from("HTTP/1.1 204 No Content\r\n\r\n"))).toBe("complete");
    expect(parser.push(Buffer.from("garbage"))).toBe("complete");
    expect(parser.end()).toBe("complete");
    const bad = createHttp1ResponseParser({ headRequest: false, onHead: () => {}, onBody: () => true });
    expect(bad.push(Buffer.from("nope\r\n"))).toBe("error");
    expect(bad.push(Buffer.from("HTTP/1.1 200 OK\r\n\r\n"))).toBe("error");
    expect(bad.end()).toBe("error");
  });
});
