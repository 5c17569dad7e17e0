import type { DnsTransport } from "@probemesh/proto";
import { decodeResponse, DnsWireError, type DnsResponse } from "@probemesh/proto/dns";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { abortFailure } from "../shared/abort.js";
import type { Failure } from "../shared/outcome.js";
import type { ResolvedAddress } from "../shared/resolve.js";
import { hostPort } from "../shared/tls-handshake.js";

/** One query sent to one resolver address. */
export interface ExchangeRequest {
  address: ResolvedAddress;
  port: number;
  transport: DnsTransport;
  /** Encoded query; its first two bytes are the id the answer must echo. */
  query: Buffer;
  signal: AbortSignal;
  now: () => number;
}

/** Timings and the decoded answer, or why there is none. */
export interface ExchangeResult {
  /** TCP only. */
  connectMs?: number;
  /** Query sent to answer decoded. */
  rttMs?: number;
  response?: DnsResponse;
  failure?: Failure;
}

/** Largest TCP answer accepted (the protocol's own bound). */
const MAX_TCP_MESSAGE = 65_535;

function decoded(buf: Buffer, where: string): { response: DnsResponse } | { failure: Failure } {
  try {
    return { response: decodeResponse(buf) };
  } catch (err) {
    const text = err instanceof DnsWireError ? err.message : String(err);
    return { failure: { reason: "protocol", message: `malformed answer from ${where}: ${text}` } };
  }
}

/** Sends one query over UDP or TCP and waits for the matching answer. Never rejects. */
export function dnsExchange(req: ExchangeRequest): Promise<ExchangeResult> {
  return req.transport === "tcp" ? overTcp(req) : overUdp(req);
}

function overUdp(req: ExchangeRequest): Promise<ExchangeResult> {
  const { now, signal } = req;
  const where = hostPort(req.address.address, req.port);
  const id = req.query.readUInt16BE(0);
  return new Promise((resolve) => {
    let done = false;
    let tSent = now();
    const socket = createSocket(req.address.family === 6 ? "udp6" : "udp4");
    const finish = (r: ExchangeResult) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const onAbort = () => finish({ failure: abortFailure(signal, `waiting for ${where}`) });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      // A connected UDP socket surfaces ICMP port-unreachable as ECONNREFUSED.
      finish({ failure: { reason: "connect", message: `query to ${where} failed: ${err.code ?? err.message}` } });
    });
    socket.on("message", (msg) => {
      // Answers to other ids (late replies, spoofing attempts) are not ours: keep waiting.
      if (msg.length < 2 || msg.readUInt16BE(0) !== id) return;
      const rttMs = now() - tSent;
      finish({ rttMs, ...decoded(msg, where) });
    });
    socket.connect(req.port, req.address.address, () => {
      if (done) return;
      tSent = now();
      socket.send(req.query);
    });
  });
}

function overTcp(req: ExchangeRequest): Promise<ExchangeResult> {
  const { now, signal } = req;
  const where = hostPort(req.address.address, req.port);
  return new Promise((resolve) => {
    const t0 = now();
    let tConnect: number | undefined;
    let done = false;
    let buffered = Buffer.alloc(0);
    const socket = connect({ host: req.address.address, port: req.port, family: req.address.family });
    const finish = (r: Omit<ExchangeResult, "connectMs">) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve({ ...(tConnect !== undefined ? { connectMs: tConnect - t0 } : {}), ...r });
    };
    const onAbort = () =>
      finish({
        failure: abortFailure(signal, tConnect === undefined ? `connect to ${where}` : `waiting for ${where}`),
      });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (tConnect === undefined)
        finish({ failure: { reason: "connect", message: `connect to ${where} failed: ${err.code ?? err.message}` } });
      else
        finish({
          failure: {
            reason: "protocol",
            message: `connection to ${where} failed mid-answer: ${err.code ?? err.message}`,
          },
        });
    });
    socket.once("connect", () => {
      tConnect = now();
      const len = Buffer.alloc(2);
      len.writeUInt16BE(req.query.length);
      socket.write(Buffer.concat([len, req.query]));
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_MESSAGE + 2)
        return finish({
          failure: { reason: "protocol", message: `answer from ${where} is larger than a DNS message` },
        });
      if (buffered.length < 2) return;
      const need = buffered.readUInt16BE(0);
      if (buffered.length < 2 + need) return;
      const rttMs = now() - (tConnect ?? t0);
      finish({ rttMs, ...decoded(buffered.subarray(2, 2 + need), where) });
    });
    socket.once("end", () =>
      finish({ failure: { reason: "protocol", message: `${where} closed the connection before a complete answer` } }),
    );
  });
}
