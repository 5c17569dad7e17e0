import { request, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { abortFailure } from "../shared/abort.js";
import { hostPort } from "../shared/tls-handshake.js";
import type { Failure } from "../shared/outcome.js";
import type { ResolvedAddress } from "../shared/resolve.js";
import { inspectTls, type TlsFacts } from "../shared/tls-facts.js";

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
 * carry credentials) is written. Never rejects; every socket is destroyed on return.
 */
export function requestHop(req: HopRequest): Promise<HopResult> {
  const { url, now, signal } = req;
  const https = url.protocol === "https:";
  const port = url.port ? Number(url.port) : https ? 443 : 80;
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const where = hostPort(req.address.address, port);

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
    let res: IncomingMessage | undefined;

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
      res?.destroy();
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
          finish({ reason: "protocol", message: `connection closed mid-body after ${bodyBytes} bytes: ${errText(err)}` });
          return;
      }
    };

    const onAbort = () => finish(abortFailure(signal, stage === "ttfb" ? "waiting for the response" : stage === "transfer" ? "body transfer" : stage));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });

    const raw = netConnect({ host: req.address.address, port, family: req.address.family });
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

    const send = (socket: Socket) => {
      stage = "ttfb";
      const path = `${url.pathname || "/"}${url.search}`;
      const cr = request({ method: req.method, path, headers: req.headers, createConnection: () => socket });
      cr.on("error", onError);
      cr.once("response", (message) => {
        if (done) return;
        tResponse = now();
        stage = "transfer";
        res = message;
        status = message.statusCode ?? 0;
        headers = message.headers;
        message.on("data", (chunk: Buffer) => {
          if (done) return;
          bodyBytes += chunk.length;
          if (req.keepBody && kept < req.maxBodyBytes) {
            const part = chunk.subarray(0, req.maxBodyBytes - kept);
            chunks.push(part);
            kept += part.length;
          }
          if (bodyBytes > req.maxBodyBytes) {
            // Past the cap: stop reading (the rest is never buffered) and judge what we have.
            truncated = true;
            finish();
          }
        });
        message.once("end", () => {
          tEnd = now();
          finish();
        });
        message.on("error", onError);
        message.once("close", () => {
          if (!done && !message.complete) onError(new Error("connection closed before the body was complete"));
        });
      });
      if (req.body !== undefined && req.body !== "") cr.end(req.body);
      else cr.end();
      tSent = now();
    };
  });
}
