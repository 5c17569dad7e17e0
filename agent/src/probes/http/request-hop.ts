import type { IncomingHttpHeaders } from "node:http";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { abortFailure } from "../shared/abort.js";
import { hostPort } from "../shared/tls-handshake.js";
import type { Failure } from "../shared/outcome.js";
import type { ResolvedAddress } from "../shared/resolve.js";
import { inspectTls, type TlsFacts } from "../shared/tls-facts.js";
import { encodeRequest } from "./http1-request.js";
import { createHttp1ResponseParser, type Http1ParseError, type Http1ParseStatus } from "./http1-response-parser.js";

/** One HTTP request to one address (no redirects). */
export interface HopRequest {
  url: URL;
  address: ResolvedAddress;
  method: string;
  /** Final request headers, lower-case names, Host included. */
  headers: Record<string, string>;
  body: string | undefined;
  /** Keep the body's first `maxBodyBytes` bytes (for assertions) instead of only counting them. */
  keepBody: boolean;
  maxBodyBytes: number;
  /** Complete even when the certificate is not trusted (facts are recorded either way). */
  insecure: boolean;
  /** Trusted CAs; undefined means Node's default (system) store. */
  ca: string[] | undefined;
  signal: AbortSignal;
  now: () => number;
}

/** Timings of one hop; absent phases did not happen. */
export interface HopPhases {
  connectMs?: number;
  tlsMs?: number;
  ttfbMs?: number;
  transferMs?: number;
}

/** What one hop produced; `failure` set when it did not get a complete response. */
export interface HopResult {
  phases: HopPhases;
  status?: number;
  headers?: IncomingHttpHeaders;
  body?: Buffer;
  bodyBytes: number;
  truncated: boolean;
  tls?: TlsFacts;
  failure?: Failure;
}

type Stage = "connect" | "tls" | "ttfb" | "transfer";

function errText(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  const msg = typeof e.message === "string" ? e.message : String(err);
  return (code && !msg.includes(code) ? `${code}: ${msg}` : msg).slice(0, 200);
}

export { hostPort };

/**
 * Runs one request on a fresh connection that this function opens itself: connect and TLS are
 * timed separately, and the certificate is verified before a single request byte (headers may
 * carry credentials) is written. The request is written and the response parsed by a small
 * HTTP/1.1 client on that socket (node:http's machinery cost more CPU than the rest of a probe).
 * Never rejects; every socket is destroyed on return.
 */
export function requestHop(req: HopRequest): Promise<HopResult> {
  const { url, now, signal } = req;
  const https = url.protocol === "https:";
  const port = url.port ? Number(url.port) : https ? 443 : 80;
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const where = hostPort(req.address.address, port);
  const wire = encodeRequest(req.method, `${url.pathname || "/"}${url.search}`, req.headers, req.body);
  if (typeof wire === "string")
    return Promise.resolve({
      phases: {},
      bodyBytes: 0,
      truncated: false,
      failure: { reason: "internal", message: `invalid check: ${wire}` },
    });

  return new Promise<HopResult>((resolve) => {
    const t0 = now();
    let tConnect: number | undefined;
    let tTls: number | undefined;
    let tSent: number | undefined;
    let tResponse: number | undefined;
    let tEnd: number | undefined;
    let stage: Stage = "connect";
    let done = false;
    let status: number | undefined;
    let headers: IncomingHttpHeaders | undefined;
    let tls: TlsFacts | undefined;
    let bodyBytes = 0;
    let kept = 0;
    let truncated = false;
    const chunks: Buffer[] = [];
    const sockets: Socket[] = [];

    const phases = (): HopPhases => {
      const p: HopPhases = {};
      if (tConnect !== undefined) p.connectMs = tConnect - t0;
      if (tTls !== undefined && tConnect !== undefined) p.tlsMs = tTls - tConnect;
      if (tResponse !== undefined && tSent !== undefined) p.ttfbMs = tResponse - tSent;
      if (tEnd !== undefined && tResponse !== undefined) p.transferMs = tEnd - tResponse;
      return p;
    };

    const finish = (failure?: Failure) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      if (tResponse !== undefined && tEnd === undefined) tEnd = now();
      // Outermost first: destroying the TCP socket under a live TLSSocket crashes Node 20 (SIGSEGV).
      for (const s of sockets.reverse()) s.destroy();
      const result: HopResult = { phases: phases(), bodyBytes, truncated };
      if (status !== undefined) result.status = status;
      if (headers !== undefined) result.headers = headers;
      if (req.keepBody && status !== undefined) result.body = Buffer.concat(chunks, kept);
      if (tls !== undefined) result.tls = tls;
      if (failure) result.failure = failure;
      resolve(result);
    };

    const onError = (err: unknown) => {
      if (done) return;
      switch (stage) {
        case "connect":
          finish({ reason: "connect", message: `connect to ${where} failed: ${errText(err)}` });
          return;
        case "tls":
          finish({ reason: "tls", message: `TLS handshake with ${where} failed: ${errText(err)}` });
          return;
        case "ttfb":
          finish({ reason: "protocol", message: `no valid HTTP response from ${where}: ${errText(err)}` });
          return;
        case "transfer":
          finish({
            reason: "protocol",
            message: `connection closed mid-body after ${bodyBytes} bytes: ${errText(err)}`,
          });
          return;
      }
    };

    const onAbort = () =>
      finish(
        abortFailure(
          signal,
          stage === "ttfb" ? "waiting for the response" : stage === "transfer" ? "body transfer" : stage,
        ),
      );
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });

    // No Nagle: a request larger than one segment must not wait for an ACK of its first part.
    const raw = netConnect({ host: req.address.address, port, family: req.address.family, noDelay: true });
    sockets.push(raw);
    raw.on("error", onError);
    raw.once("connect", () => {
      if (done) return;
      tConnect = now();
      if (!https) {
        send(raw);
        return;
      }
      stage = "tls";
      const secure: TLSSocket = tlsConnect({
        socket: raw,
        // SNI must be a name: RFC 6066 forbids IP literals.
        ...(isIP(hostname) ? {} : { servername: hostname }),
        rejectUnauthorized: false,
        ALPNProtocols: ["http/1.1"],
        ...(req.ca ? { ca: req.ca } : {}),
      });
      sockets.push(secure);
      secure.on("error", onError);
      secure.once("secureConnect", () => {
        if (done) return;
        tTls = now();
        const verdict = inspectTls(secure, hostname);
        tls = verdict.facts;
        if (verdict.verifyError && !req.insecure) {
          finish({ reason: "tls", message: `certificate of ${where} not trusted: ${verdict.verifyError}` });
          return;
        }
        send(secure);
      });
    });

    const parseFailure = (e: Http1ParseError): Failure => {
      switch (e.kind) {
        case "head":
          return { reason: "protocol", message: `no valid HTTP response from ${where}: ${e.message}` };
        case "truncated":
          return { reason: "protocol", message: `connection closed mid-body after ${bodyBytes} bytes: ${e.message}` };
        case "body":
          return {
            reason: "protocol",
            message: `invalid chunked body from ${where} after ${bodyBytes} bytes: ${e.message}`,
          };
      }
    };

    const send = (socket: Socket) => {
      stage = "ttfb";
      const parser = createHttp1ResponseParser({
        headRequest: req.method === "HEAD",
        onHead: (head) => {
          tResponse = now();
          stage = "transfer";
          status = head.status;
          headers = head.headers;
        },
        onBody: (chunk) => {
          bodyBytes += chunk.length;
          if (req.keepBody && kept < req.maxBodyBytes) {
            const part = chunk.subarray(0, req.maxBodyBytes - kept);
            chunks.push(part);
            kept += part.length;
          }
          // Past the cap: stop reading (the rest is never buffered) and judge what we have.
          if (bodyBytes <= req.maxBodyBytes) return true;
          truncated = true;
          return false;
        },
      });
      const settle = (state: Http1ParseStatus) => {
        switch (state) {
          case "more":
            return;
          case "complete":
            tEnd = now();
            finish();
            return;
          case "stopped":
            finish();
            return;
          case "error":
            finish(
              parser.error
                ? parseFailure(parser.error)
                : { reason: "protocol", message: `no valid HTTP response from ${where}` },
            );
            return;
        }
      };
      // A hostile response must end this hop, never throw out of an event handler.
      const crashed = (err: unknown) =>
        finish({ reason: "internal", message: `HTTP client failed on the response from ${where}: ${errText(err)}` });
      socket.on("data", (chunk: Buffer) => {
        if (done) return;
        try {
          settle(parser.push(chunk));
        } catch (err) {
          crashed(err);
        }
      });
      socket.once("end", () => {
        if (done) return;
        try {
          settle(parser.end());
        } catch (err) {
          crashed(err);
        }
      });
      socket.once("close", () => {
        if (!done) onError(new Error("connection closed"));
      });
      socket.write(wire);
      tSent = now();
    };
  });
}
