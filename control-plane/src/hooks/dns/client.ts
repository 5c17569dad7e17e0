import {
  decodeMessage,
  encodeQuery,
  encodeReplaceUpdate,
  rcodeName,
  rdataAddress,
  TYPE,
  type DnsMessage,
} from "@probemesh/proto/dns";
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { isIP } from "node:net";
import { signMessage, verifyResponse, type TsigSecret } from "./tsig.js";

/** "host:port" or "[v6]:port" split into its parts. */
export function parseHostPort(addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (!m) throw new RangeError(`not host:port: ${JSON.stringify(addr)}`);
  return { host: m[1] ?? "", port: Number(m[2]) };
}

/** Sends one UDP datagram to `server` and resolves with the reply carrying the same id. */
export async function exchange(server: string, message: Buffer, signal: AbortSignal): Promise<Buffer> {
  const { host, port } = parseHostPort(server);
  const sock = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
  const id = message.readUInt16BE(0);
  let onAbort = () => {};
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      onAbort = () => reject(new Error(`no DNS answer from ${server}: ${String(signal.reason ?? "aborted")}`));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      sock.on("error", reject);
      sock.on("message", (reply) => {
        // Ignore stray datagrams: only the reply to this id counts.
        if (reply.length >= 2 && reply.readUInt16BE(0) === id) resolve(reply);
      });
      sock.send(message, port, host, (err) => {
        if (err) reject(err);
      });
    });
  } finally {
    // The verify loop queries many times under one attempt's signal: leave no listener behind.
    signal.removeEventListener("abort", onAbort);
    sock.close();
  }
}

/** Asks `server` (an authoritative server) for the A or AAAA records of `name`, sorted. */
export async function queryAddresses(
  server: string,
  name: string,
  recordType: "A" | "AAAA",
  signal: AbortSignal,
): Promise<string[]> {
  const type = TYPE[recordType];
  const reply = decodeMessage(
    await exchange(server, encodeQuery(randomInt(0, 65536), name, type, { recursionDesired: false }), signal),
  );
  if (reply.rcode !== 0 && reply.rcode !== 3)
    throw new Error(`DNS query for ${name} ${recordType} answered ${rcodeName(reply.rcode)}`);
  return answerAddresses(reply, name, type);
}

function answerAddresses(reply: DnsMessage, name: string, type: number): string[] {
  const want = name.toLowerCase();
  return reply.answers
    .filter((rr) => rr.type === type && rr.name.toLowerCase() === want)
    .map((rr) => rdataAddress(rr.rdata))
    .sort();
}

/** Options of {@link replaceRecords}. */
export interface ReplaceRecordsOptions {
  server: string;
  zone: string;
  name: string;
  recordType: "A" | "AAAA";
  ttl: number;
  addresses: readonly string[];
  tsig: TsigSecret;
  signal: AbortSignal;
  /** Clock in epoch ms (TSIG time). */
  now: () => number;
}

/** Sends a TSIG-signed DNS UPDATE replacing one RRset; throws with the server's rcode or TSIG problem. */
export async function replaceRecords(opts: ReplaceRecordsOptions): Promise<void> {
  const update = encodeReplaceUpdate(
    randomInt(0, 65536),
    opts.zone,
    opts.name,
    TYPE[opts.recordType],
    opts.ttl,
    opts.addresses,
  );
  const { signed, mac } = signMessage(update, opts.tsig, opts.now() / 1000);
  const raw = await exchange(opts.server, signed, opts.signal);
  const reply = decodeMessage(raw);
  if (reply.rcode !== 0) {
    const tsigProblem = verifyResponse(raw, opts.tsig, mac, opts.now() / 1000);
    throw new Error(`DNS UPDATE refused: ${rcodeName(reply.rcode)}${tsigProblem ? ` (${tsigProblem})` : ""}`);
  }
  const problem = verifyResponse(raw, opts.tsig, mac, opts.now() / 1000);
  if (problem) throw new Error(`DNS UPDATE answer not trusted: ${problem}`);
}
