import type { DnsRecordType } from "@probemesh/proto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";

/** Zone served by the test DNS responder. */
export const TEST_ZONE = "example.test.";
/** Reverse zone served too (PTR records of 127.0.0.0/24). */
export const REVERSE_ZONE = "0.0.127.in-addr.arpa.";

/** A name the DNS target serves for each record type. */
export const DNS_TARGET_NAMES: { readonly [T in DnsRecordType]: string } = {
  A: "www.example.test",
  AAAA: "www.example.test",
  CNAME: "alias.example.test",
  MX: "example.test",
  TXT: "example.test",
  NS: "example.test",
  SOA: "example.test",
  SRV: "_svc._tcp.example.test",
  PTR: "10.0.0.127.in-addr.arpa",
  CAA: "example.test",
};

type Rec = { type: number; data: Buffer };
const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, CAA: 257 } as const;

function name(text: string): Buffer {
  const parts = text
    .replace(/\.$/, "")
    .split(".")
    .filter(Boolean)
    .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}
const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const txt = (...s: string[]) =>
  Buffer.concat(s.map((x) => Buffer.concat([Buffer.from([Buffer.byteLength(x)]), Buffer.from(x)])));
/** CAA RDATA (RFC 8659): flags, tag length, tag, value. */
const caa = (flags: number, tag: string, value: string) =>
  Buffer.concat([Buffer.from([flags, tag.length]), Buffer.from(tag), Buffer.from(value)]);

/** The records: an independent encoder, so the probe's decoder is not tested against itself. */
function zone(): Map<string, Rec[]> {
  const z = new Map<string, Rec[]>();
  const add = (owner: string, type: number, data: Buffer) => {
    const key = owner.toLowerCase();
    z.set(key, [...(z.get(key) ?? []), { type, data }]);
  };
  add("example.test.", T.NS, name("ns1.example.test."));
  add(
    "example.test.",
    T.SOA,
    Buffer.concat([
      name("ns1.example.test."),
      name("hostmaster.example.test."),
      u32(2024010101),
      u32(3600),
      u32(600),
      u32(86400),
      u32(60),
    ]),
  );
  add("example.test.", T.MX, Buffer.concat([u16(10), name("mail.example.test.")]));
  add("example.test.", T.TXT, txt("v=spf1 -all"));
  add("www.example.test.", T.A, Buffer.from([127, 0, 0, 10]));
  add("www.example.test.", T.A, Buffer.from([127, 0, 0, 11]));
  add("www.example.test.", T.AAAA, Buffer.from("00000000000000000000000000000001", "hex"));
  add("alias.example.test.", T.CNAME, name("www.example.test."));
  add("_svc._tcp.example.test.", T.SRV, Buffer.concat([u16(10), u16(5), u16(8080), name("www.example.test.")]));
  add("mail.example.test.", T.A, Buffer.from([127, 0, 0, 25]));
  add("example.test.", T.CAA, caa(0, "issue", "letsencrypt.org"));
  add("example.test.", T.CAA, caa(0, "issuewild", ";"));
  add("example.test.", T.CAA, caa(128, "iodef", "mailto:security@example.test"));
  add("10.0.0.127.in-addr.arpa.", T.PTR, name("www.example.test."));
  add("25.0.0.127.in-addr.arpa.", T.PTR, name("mail.example.test."));
  for (let i = 0; i < 40; i++)
    add("big.example.test.", T.TXT, txt(`record-${String(i).padStart(2, "0")}-${"x".repeat(40)}`));
  return z;
}

interface Question {
  id: number;
  qname: string;
  qtype: number;
  raw: Buffer;
}

function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 17) return undefined;
  const labels: string[] = [];
  let pos = 12;
  while (pos < msg.length && msg[pos] !== 0) {
    const len = msg[pos]!;
    if (len > 63 || pos + 1 + len > msg.length) return undefined;
    labels.push(msg.toString("latin1", pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  pos++;
  if (pos + 4 > msg.length) return undefined;
  return {
    id: msg.readUInt16BE(0),
    qname: `${labels.join(".")}.`.toLowerCase(),
    qtype: msg.readUInt16BE(pos),
    raw: msg.subarray(12, pos + 4),
  };
}

function reply(q: Question, rcode: number, answers: Rec[], truncated = false): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  header.writeUInt16BE(0x8000 | 0x0400 | 0x0100 | 0x0080 | (truncated ? 0x0200 : 0) | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((a) =>
    Buffer.concat([u16(0xc00c), u16(a.type), u16(1), u32(300), u16(a.data.length), a.data]),
  );
  return Buffer.concat([header, q.raw, ...rrs]);
}

/** Behaviour of the responder for one query: a message to send, or nothing (silence). */
function answer(q: Question, overTcp: boolean, z: Map<string, Rec[]>): Buffer | undefined {
  if (q.qname === "slow.example.test.") return undefined;
  if (q.qname === "servfail.example.test.") return reply(q, 2, []);
  if (q.qname === "garbage.example.test.")
    return Buffer.concat([u16(q.id), Buffer.from([0x81, 0x80, 0, 1, 0, 5]), Buffer.from("garbage")]);
  if (q.qname === "wrongid.example.test.") return reply({ ...q, id: (q.id + 1) & 0xffff }, 0, []);
  const inZone = (zone: string) => q.qname === zone || q.qname.endsWith(`.${zone}`);
  if (!inZone(TEST_ZONE) && !inZone(REVERSE_ZONE)) return reply(q, 5, []);
  const recs = z.get(q.qname);
  if (!recs) return reply(q, 3, []);
  const matching = recs.filter((r) => r.type === q.qtype || (r.type === T.CNAME && q.qtype !== T.CNAME));
  const msg = reply(q, 0, matching);
  if (!overTcp && msg.length > 512) return reply(q, 0, [], true);
  return msg;
}

/**
 * A small authoritative responder for `example.test.` (every record type a check may ask for, CAA at
 * the apex) and `0.0.127.in-addr.arpa.` (PTR of 127.0.0.10 and 127.0.0.25) on UDP and TCP of one port.
 */
export interface DnsTarget {
  /** "127.0.0.1:port" */
  address: string;
  port: number;
  /** Queries received (UDP and TCP). */
  queries(): number;
  close(): Promise<void>;
}

/**
 * Starts the responder. Special names: slow.* never answers, servfail.* is SERVFAIL, garbage.*
 * answers malformed bytes, wrongid.* answers with another id, big.* TXT is truncated over UDP.
 */
export async function startDnsTarget(): Promise<DnsTarget> {
  const z = zone();
  let count = 0;
  const tcp: Server = createServer((sock: Socket) => {
    let buf = Buffer.alloc(0);
    sock.on("error", () => {});
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        count++;
        const q = parseQuestion(msg);
        const out = q && answer(q, true, z);
        if (out) sock.write(Buffer.concat([u16(out.length), out]));
      }
    });
  });
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  const port = (tcp.address() as AddressInfo).port;
  const udp: UdpSocket = createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    count++;
    const q = parseQuestion(msg);
    const out = q && answer(q, false, z);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, "127.0.0.1", () => resolve());
  });
  const sockets = new Set<Socket>();
  tcp.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return {
    address: `127.0.0.1:${port}`,
    port,
    queries: () => count,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
}
