/**
 * The shared suite every prober passes, against hostile local targets: timeout and cancellation
 * honoured, no unhandled rejection, a failure reason on every failure, monotone non-negative
 * phase timings, bounded results. Type-specific behaviours against the same targets follow.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createProbers, systemLookup, type ProbeOutcome, type Prober } from "@probemesh/agent";
import {
  CheckSchema,
  DnsCheckSchema,
  GrpcCheckSchema,
  HttpCheckSchema,
  IcmpCheckSchema,
  TcpCheckSchema,
  TlsCheckSchema,
  type Check,
} from "@probemesh/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegions, netnsUnavailable, type Regions } from "../harness/netns.js";
import { generateTestCerts, type TestCerts } from "../harness/targets-certs.js";
import { startDnsTarget, type DnsTarget } from "../harness/targets-dns.js";
import { startGrpcTarget, type GrpcTarget } from "../harness/targets-grpc.js";
import { BIG_BODY_BYTES, startTargets, type Targets } from "../harness/targets.js";

let certs: TestCerts;
let targets: Targets;
let dnsTarget: DnsTarget;
let grpcTarget: GrpcTarget;
let regions: Regions | undefined;
/** An address in a namespace this test owns whose replies are blackholed: SYNs and echoes vanish. */
let silentIp = "";
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);

// A fixed lookup table besides the system's: multi-address and dual-stack names.
const table: Record<string, { address: string; family: 4 | 6 }[]> = {
  "multi.test": [
    { address: "127.0.0.1", family: 4 },
    { address: "127.0.0.2", family: 4 },
  ],
  "dual.test": [
    { address: "::1", family: 6 },
    { address: "127.0.0.1", family: 4 },
  ],
};
const probers = createProbers({
  lookup: async (host) => {
    const hit = table[host];
    if (hit) return hit;
    return systemLookup(host);
  },
});

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);
  certs = generateTestCerts();
  targets = await startTargets(certs);
  dnsTarget = await startDnsTarget();
  grpcTarget = await startGrpcTarget(certs.valid);
  const why = netnsUnavailable();
  if (why) throw new Error(`the conformance suite needs a network namespace for its silent target: ${why}`);
  regions = createRegions(["silent"], 201 + (process.pid % 49));
  const region = regions.regions[0]!;
  silentIp = region.address;
  region.cut(region.address.replace(/\.2$/, ".1"));
}, 60_000);

afterAll(async () => {
  await targets?.close();
  await dnsTarget?.close();
  await grpcTarget?.close();
  regions?.dispose();
  certs?.dispose();
  // Late socket errors surface after the last test: give them a moment, then demand none.
  await new Promise((r) => setTimeout(r, 200));
  process.off("unhandledRejection", onUnhandled);
  process.off("uncaughtException", onUnhandled);
  expect(unhandled).toEqual([]);
});

function check(
  type: string,
  opts: { timeoutMs?: number; retries?: number } & Partial<
    Record<"http" | "tcp" | "dns" | "tls" | "grpc" | "icmp", unknown>
  >,
): Check {
  const c = create(CheckSchema, {
    id: `c-${type}`,
    type,
    intervalMs: 10_000,
    timeoutMs: opts.timeoutMs ?? 3000,
    retries: opts.retries ?? 0,
  });
  if (opts.http) c.http = create(HttpCheckSchema, opts.http as MessageInitShape<typeof HttpCheckSchema>);
  if (opts.tcp) c.tcp = create(TcpCheckSchema, opts.tcp as MessageInitShape<typeof TcpCheckSchema>);
  if (opts.dns) c.dns = create(DnsCheckSchema, opts.dns as MessageInitShape<typeof DnsCheckSchema>);
  if (opts.tls) c.tls = create(TlsCheckSchema, opts.tls as MessageInitShape<typeof TlsCheckSchema>);
  if (opts.grpc) c.grpc = create(GrpcCheckSchema, opts.grpc as MessageInitShape<typeof GrpcCheckSchema>);
  if (opts.icmp) c.icmp = create(IcmpCheckSchema, opts.icmp as MessageInitShape<typeof IcmpCheckSchema>);
  return c;
}

const PHASE_ORDER = ["dnsMs", "connectMs", "tlsMs", "ttfbMs", "transferMs"] as const;

/** The contract every outcome of every prober meets. */
function assertContract(o: ProbeOutcome, c: Check): void {
  expect(["up", "degraded", "down"]).toContain(o.state);
  if (o.state === "down") expect(o.reason).not.toBe("");
  else expect(o.reason).toBe("");
  expect(o.message.length).toBeLessThanOrEqual(512);
  expect(o.attempts).toBeGreaterThanOrEqual(1);
  expect(o.durationMs).toBeGreaterThanOrEqual(0);
  let sum = 0;
  for (const k of PHASE_ORDER) {
    const v = o.phases[k];
    if (v === undefined) continue;
    expect(Number.isFinite(v), k).toBe(true);
    expect(v, k).toBeGreaterThanOrEqual(0);
    sum += v;
  }
  // Phases are consecutive slices of one run: together they never exceed it.
  expect(sum).toBeLessThanOrEqual(o.durationMs + 1);
  const size = JSON.stringify(o, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)).length;
  expect(size).toBeLessThan(16 * 1024);
  // Secrets configured on the check never come back.
  for (const v of Object.values(c.http?.headers ?? {}))
    expect(JSON.stringify(o, (_k, x: unknown) => (typeof x === "bigint" ? 0 : x))).not.toContain(v);
}

async function runProbe(
  c: Check,
  signal = new AbortController().signal,
): Promise<{ outcomes: ProbeOutcome[]; ms: number }> {
  const prober: Prober = probers.get(c.type)!;
  const t0 = performance.now();
  const outcomes = await prober.run(c, { signal, timeoutMs: c.timeoutMs });
  const ms = performance.now() - t0;
  expect(outcomes.length).toBeGreaterThan(0);
  for (const o of outcomes) assertContract(o, c);
  return { outcomes, ms };
}

async function one(c: Check): Promise<ProbeOutcome> {
  return (await runProbe(c)).outcomes[0]!;
}

/** Per type: a check that is up, and one whose target never answers. */
interface Subject {
  type: string;
  up: () => Check;
  hang: (timeoutMs: number) => Check;
  /** Reasons a hung run may report at its deadline. */
  hangReasons: string[];
}

const subjects: Subject[] = [
  {
    type: "http",
    up: () => check("http", { http: { url: `${targets.http}/ok` } }),
    hang: (t) => check("http", { timeoutMs: t, http: { url: `http://127.0.0.1:${targets.slowLoris.port}/` } }),
    hangReasons: ["timeout"],
  },
  {
    type: "tcp",
    up: () => check("tcp", { tcp: { host: "127.0.0.1", port: Number(new URL(targets.http).port) } }),
    hang: (t) => check("tcp", { timeoutMs: t, tcp: { host: silentIp, port: 80 } }),
    hangReasons: ["timeout"],
  },
  {
    type: "tls",
    up: () =>
      check("tls", { tls: { host: "127.0.0.1", port: Number(new URL(targets.https.valid).port), caPem: certs.caPem } }),
    hang: (t) => check("tls", { timeoutMs: t, tls: { host: silentIp, port: 443 } }),
    hangReasons: ["timeout"],
  },
  {
    type: "dns",
    up: () => check("dns", { dns: { name: "www.example.test", resolver: dnsTarget.address } }),
    hang: (t) => check("dns", { timeoutMs: t, dns: { name: "slow.example.test", resolver: dnsTarget.address } }),
    hangReasons: ["timeout"],
  },
  {
    type: "grpc",
    up: () => check("grpc", { grpc: { address: grpcTarget.address } }),
    hang: (t) => check("grpc", { timeoutMs: t, grpc: { address: grpcTarget.address, service: "slow" } }),
    hangReasons: ["timeout"],
  },
  {
    type: "icmp",
    up: () => check("icmp", { icmp: { host: "127.0.0.1", packets: 2 } }),
    hang: (t) => check("icmp", { timeoutMs: t, icmp: { host: silentIp, packets: 3 } }),
    hangReasons: ["timeout", "connect"],
  },
];

describe.each(subjects)("conformance: $type", (s) => {
  it("is up against a healthy target, with the contract met", async () => {
    const o = await one(s.up());
    expect(o.state, o.message).toBe("up");
    expect(o.attempts).toBe(1);
  });

  it("honours its timeout against a target that never answers", async () => {
    const c = s.hang(600);
    const { outcomes, ms } = await runProbe(c);
    expect(ms).toBeLessThan(600 + 400);
    expect(outcomes[0]!.state).toBe("down");
    expect(s.hangReasons).toContain(outcomes[0]!.reason);
  });

  it("stops promptly when its run is cancelled", async () => {
    const c = s.hang(10_000);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new DOMException("agent stopping", "AbortError")), 150);
    const { outcomes, ms } = await runProbe(c, ctl.signal);
    expect(ms).toBeLessThan(150 + 400);
    expect(outcomes[0]!.state).toBe("down");
    expect(outcomes[0]!.reason).toBe("internal");
  });

  it("returns at once when its signal is already aborted", async () => {
    const ctl = new AbortController();
    ctl.abort(new DOMException("probe timeout", "TimeoutError"));
    const c = s.up();
    const { outcomes, ms } = await runProbe(c, ctl.signal);
    // Not a timing test: far under the check's timeout (a loaded CI host once took 313 ms for this).
    expect(ms).toBeLessThan(c.timeoutMs / 3);
    expect(outcomes[0]).toMatchObject({ state: "down", reason: "timeout" });
  });

  it("reports an invalid check as down with a reason, never throws", async () => {
    const c = create(CheckSchema, { id: "bad", type: s.type, timeoutMs: 1000 });
    const o = await one(c);
    expect(o).toMatchObject({ state: "down", reason: "internal" });
    expect(o.message).toMatch(/invalid check/);
  });

  it("counts retries as attempts on failure, and makes none on success", async () => {
    const bad = s.hang(300);
    bad.retries = 2;
    bad.timeoutMs = 2000;
    if (s.type === "tls") Object.assign(bad.tls!, { host: "127.0.0.1", port: targets.refusedPort });
    else if (s.type === "http") bad.http!.url = `http://127.0.0.1:${targets.refusedPort}/`;
    else if (s.type === "tcp") Object.assign(bad.tcp!, { host: "127.0.0.1", port: targets.refusedPort });
    else if (s.type === "dns") bad.dns!.name = "servfail.example.test";
    else if (s.type === "grpc") bad.grpc!.service = "down";
    else if (s.type === "icmp") return; // no fast-failing ICMP target without a namespace per run
    const o = await one(bad);
    expect(o.state).toBe("down");
    expect(o.attempts).toBe(3);
    const good = s.up();
    good.retries = 2;
    expect((await one(good)).attempts).toBe(1);
  });
});

describe("http against hostile targets", () => {
  const http = (opts: MessageInitShape<typeof HttpCheckSchema>, timeoutMs = 3000) =>
    check("http", { timeoutMs, http: opts });

  it("reads at most the cap of a 50 MB body and does not hold it", async () => {
    const before = targets.bigBytesWritten();
    const rss0 = process.memoryUsage().rss;
    const o = await one(http({ url: `${targets.http}/big`, bodyContains: "xxx" }));
    expect(o.state).toBe("up");
    expect(o.bodyBytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(o.bodyBytes).toBeLessThan(2 * 1024 * 1024);
    expect(o.message).toMatch(/cap/);
    // The server could only push what the socket buffers took, far from 50 MB.
    await new Promise((r) => setTimeout(r, 100));
    expect(targets.bigBytesWritten() - before).toBeLessThan(BIG_BODY_BYTES / 2);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(40 * 1024 * 1024);
  });

  it("reads a 50 MB body to its end when the cap allows, streamed", async () => {
    const o = await one(http({ url: `${targets.http}/big`, maxBodyBytes: BIG_BODY_BYTES + 1 }, 20_000));
    expect(o).toMatchObject({ state: "up", bodyBytes: BIG_BODY_BYTES });
    expect(o.phases.transferMs).toBeGreaterThan(0);
  });

  it("fails with protocol when the target closes mid-body", async () => {
    const o = await one(http({ url: `${targets.http}/mid-body-close` }));
    expect(o).toMatchObject({ state: "down", reason: "protocol", httpStatus: 200 });
    expect(o.message).toMatch(/mid-body/);
  });

  it("times out on a slow-loris target", async () => {
    const o = await one(http({ url: `http://127.0.0.1:${targets.slowLoris.port}/` }, 800));
    expect(o).toMatchObject({ state: "down", reason: "timeout" });
    expect(o.phases.connectMs).toBeGreaterThanOrEqual(0);
  });

  it("detects a redirect loop and caps chains at 10 hops", async () => {
    expect(await one(http({ url: `${targets.http}/loop`, followRedirects: true }))).toMatchObject({
      state: "down",
      reason: "protocol",
    });
    const o = await one(http({ url: `${targets.http}/chain`, followRedirects: true }));
    expect(o).toMatchObject({ state: "down", reason: "protocol" });
    expect(o.message).toMatch(/more than 10 redirects/);
  });

  it("fails with protocol when the peer resets on accept", async () => {
    expect(await one(http({ url: `http://127.0.0.1:${targets.closeOnAccept.port}/` }))).toMatchObject({
      state: "down",
      reason: "protocol",
    });
  });

  it("refuses untrusted certificates but records their facts", async () => {
    const self = await one(http({ url: `${targets.https.selfSigned}/ok` }));
    expect(self).toMatchObject({ state: "down", reason: "tls" });
    expect(self.tls).toMatchObject({ verified: false });
    expect(self.tls!.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(self.tls!.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(self.httpStatus).toBeUndefined(); // nothing was sent to an untrusted peer
    const expired = await one(http({ url: `${targets.https.expired}/ok`, caPem: certs.caPem }));
    expect(expired).toMatchObject({ state: "down", reason: "tls" });
    expect(expired.message).toMatch(/expired/i);
    expect(Number(expired.tls!.notAfterMs)).toBe(Date.parse("2020-02-01T00:00:00Z"));
    const wrong = await one(http({ url: `${targets.https.wrongHost}/ok`, caPem: certs.caPem }));
    expect(wrong).toMatchObject({ state: "down", reason: "tls" });
    expect(wrong.tls!.sans).toEqual(["wrong.example"]);
  });

  it("trusts a custom CA, skips verification when told, and reports TLS facts", async () => {
    const o = await one(http({ url: `${targets.https.valid}/ok`, caPem: certs.caPem }));
    expect(o).toMatchObject({ state: "up", httpStatus: 200 });
    expect(o.tls).toMatchObject({ verified: true, verifyError: "" });
    expect(o.tls!.sans).toContain("127.0.0.1");
    expect(o.tls!.issuer).toMatch(/probemesh test root/);
    expect(o.phases.tlsMs).toBeGreaterThan(0);
    const insecure = await one(http({ url: `${targets.https.selfSigned}/ok`, insecureSkipVerify: true }));
    expect(insecure).toMatchObject({ state: "up" });
    expect(insecure.tls!.verified).toBe(false);
  });

  it("probes every resolved address with allIps, one outcome each", async () => {
    const port = new URL(targets.http).port;
    const { outcomes } = await runProbe(http({ url: `http://multi.test:${port}/ok`, allIps: true }));
    expect(outcomes.map((o) => o.target)).toEqual([`127.0.0.1:${port}`, `127.0.0.2:${port}`]);
    expect(outcomes[0]!.state).toBe("up");
    for (const o of outcomes) expect(o.phases.dnsMs).toBeGreaterThanOrEqual(0);
    const single = await runProbe(http({ url: `http://multi.test:${port}/ok` }));
    expect(single.outcomes).toHaveLength(1);
  });

  it("honours the IP family preference", async () => {
    const port = new URL(targets.http).port;
    const v4 = await one(http({ url: `http://dual.test:${port}/ok`, ipPreference: "ip4" }));
    expect(v4).toMatchObject({ state: "up", target: `127.0.0.1:${port}` });
    const v6 = await one(http({ url: `http://dual.test:${port}/ok`, ipPreference: "ip6" }));
    expect(v6.target).toBe(`[::1]:${port}`);
  });

  it("never echoes configured header values or URL credentials", async () => {
    const url = new URL(`${targets.http}/echo`);
    url.username = "user";
    url.password = "hunter2";
    const o = await one(http({ url: url.href, headers: { "X-Token": "tok-secret-1" }, bodyContains: "nope" }));
    expect(o.reason).toBe("assertion:body_contains");
    const text = JSON.stringify(o, (_k, v: unknown) => (typeof v === "bigint" ? 0 : v));
    expect(text).not.toContain("tok-secret-1");
    expect(text).not.toContain("hunter2");
  });
});

describe("tls against hostile targets", () => {
  const tls = (url: string, opts: MessageInitShape<typeof TlsCheckSchema> = {}) =>
    check("tls", { tls: { host: "127.0.0.1", port: Number(new URL(url).port), caPem: certs.caPem, ...opts } });

  it("reports leaf and chain facts of a trusted certificate", async () => {
    const o = await one(tls(targets.https.valid, { serverName: "localhost" }));
    expect(o.state).toBe("up");
    expect(o.tls).toMatchObject({ verified: true, subject: "CN=localhost" });
    expect(o.tls!.sans).toEqual(["localhost", "127.0.0.1", "0:0:0:0:0:0:0:1"]);
    expect(o.tls!.cipher).not.toBe("");
    expect(o.phases.connectMs).toBeGreaterThanOrEqual(0);
    expect(o.phases.tlsMs).toBeGreaterThan(0);
  });

  it("fails self-signed, expired and wrong-host certificates, recording their facts", async () => {
    const self = await one(tls(targets.https.selfSigned, { caPem: "" }));
    expect(self).toMatchObject({ state: "down", reason: "tls" });
    expect(self.tls!.fingerprintSha256).not.toBe("");
    const expired = await one(tls(targets.https.expired));
    expect(expired).toMatchObject({ state: "down", reason: "tls" });
    expect(Number(expired.tls!.notBeforeMs)).toBe(Date.parse("2020-01-01T00:00:00Z"));
    const wrong = await one(tls(targets.https.wrongHost, { serverName: "localhost" }));
    expect(wrong).toMatchObject({ state: "down", reason: "tls" });
    expect(wrong.message).toMatch(/localhost/);
    expect((await one(tls(targets.https.selfSigned, { caPem: "", insecureSkipVerify: true }))).state).toBe("up");
  });

  it("fails a chain expiring within minDaysRemaining, judging the intermediate too", async () => {
    const o = await one(tls(targets.https.shortChain, { minDaysRemaining: 7 }));
    expect(o).toMatchObject({ state: "down", reason: "tls" });
    expect(o.message).toMatch(/expires in [23]\.\d days/);
    expect(Math.abs(Number(o.tls!.chainNotAfterMs) - certs.shortChainNotAfterMs)).toBeLessThan(60_000);
    expect(Number(o.tls!.notAfterMs)).toBeGreaterThan(Number(o.tls!.chainNotAfterMs));
    expect((await one(tls(targets.https.shortChain, { minDaysRemaining: 2 }))).state).toBe("up");
  });

  it("fails a protocol older than minProtocol", async () => {
    const o = await one(tls(targets.https.tls12Only, { minProtocol: "TLSv1.3" }));
    expect(o).toMatchObject({ state: "down", reason: "tls" });
    expect(o.tls!.protocol).toBe("TLSv1.2");
    expect((await one(tls(targets.https.tls12Only))).state).toBe("up");
  });

  it("fails with tls when the peer does not speak TLS, connect when refused", async () => {
    expect(await one(tls(targets.http))).toMatchObject({ state: "down", reason: "tls" });
    expect(await one(tls(`http://x:${targets.refusedPort}`))).toMatchObject({ state: "down", reason: "connect" });
  });
});

describe("dns against a local responder", () => {
  const dns = (opts: MessageInitShape<typeof DnsCheckSchema>, timeoutMs = 2000) =>
    check("dns", { timeoutMs, dns: { resolver: dnsTarget.address, ...opts } });

  it("returns rcode and answers as text for every record type", async () => {
    const cases: [string, string, string[]][] = [
      ["www.example.test", "A", ["127.0.0.10", "127.0.0.11"]],
      ["www.example.test", "AAAA", ["::1"]],
      ["alias.example.test", "CNAME", ["www.example.test."]],
      ["example.test", "MX", ["10 mail.example.test."]],
      ["example.test", "TXT", ['"v=spf1 -all"']],
      ["example.test", "NS", ["ns1.example.test."]],
      ["example.test", "SOA", ["ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 60"]],
      ["_svc._tcp.example.test", "SRV", ["10 5 8080 www.example.test."]],
    ];
    for (const [name, recordType, answers] of cases) {
      const o = await one(dns({ name, recordType }));
      expect(o.state, `${name} ${recordType}: ${o.message}`).toBe("up");
      expect(o.dns).toEqual({ rcode: "NOERROR", answers });
      expect(o.phases.dnsMs).toBeGreaterThanOrEqual(0);
    }
  });

  it("judges expected rcode and answers: exact set, contains, regex", async () => {
    expect(await one(dns({ name: "nope.example.test" }))).toMatchObject({
      state: "down",
      reason: "assertion:rcode",
      dns: { rcode: "NXDOMAIN" },
    });
    expect((await one(dns({ name: "nope.example.test", expectRcode: "NXDOMAIN" }))).state).toBe("up");
    expect(await one(dns({ name: "servfail.example.test" }))).toMatchObject({
      reason: "assertion:rcode",
      dns: { rcode: "SERVFAIL" },
    });
    expect(await one(dns({ name: "other.zone" }))).toMatchObject({
      reason: "assertion:rcode",
      dns: { rcode: "REFUSED" },
    });
    expect((await one(dns({ name: "www.example.test", expectAnswers: ["127.0.0.11", "127.0.0.10"] }))).state).toBe(
      "up",
    );
    expect((await one(dns({ name: "www.example.test", expectAnswers: ["127.0.0.10"] }))).reason).toBe(
      "assertion:expect_answers",
    );
    expect((await one(dns({ name: "www.example.test", answersContain: ["127.0.0.11"] }))).state).toBe("up");
    expect((await one(dns({ name: "www.example.test", answersContain: ["127.0.0.12"] }))).reason).toBe(
      "assertion:answers_contain",
    );
    expect((await one(dns({ name: "example.test", recordType: "MX", answerRegex: "mail\\.example" }))).state).toBe(
      "up",
    );
    expect((await one(dns({ name: "example.test", recordType: "TXT", answersContain: ["v=spf1 -all"] }))).state).toBe(
      "up",
    );
    expect((await one(dns({ name: "www.example.test", answerRegex: "^10\\." }))).reason).toBe("assertion:answer_regex");
    // RE2: a backtracking pattern answers at once; lookaround cannot run and says so.
    expect((await one(dns({ name: "www.example.test", answerRegex: String.raw`^(\d+\.?)+$` }))).state).toBe("up");
    expect(await one(dns({ name: "www.example.test", answerRegex: "^127(?=\\.)" }))).toMatchObject({
      reason: "internal",
      message: expect.stringContaining("is not a valid RE2 regular expression: lookahead") as unknown,
    });
    expect(
      (await one(dns({ name: "alias.example.test", recordType: "A", expectAnswers: ["127.0.0.10"] }))).reason,
    ).toBe("assertion:expect_answers");
  });

  it("retries a truncated UDP answer over TCP, and speaks TCP when asked", async () => {
    const o = await one(dns({ name: "big.example.test", recordType: "TXT" }));
    expect(o.state).toBe("up");
    expect(o.dns!.answers).toHaveLength(40);
    expect(o.message).toMatch(/truncated/);
    const tcp = await one(dns({ name: "www.example.test", transport: "tcp" }));
    expect(tcp.state).toBe("up");
    expect(tcp.phases.connectMs).toBeGreaterThanOrEqual(0);
  });

  it("classifies malformed answers, wrong ids and dead resolvers", async () => {
    expect(await one(dns({ name: "garbage.example.test" }))).toMatchObject({ state: "down", reason: "protocol" });
    expect(await one(dns({ name: "wrongid.example.test" }, 500))).toMatchObject({ state: "down", reason: "timeout" });
    expect(
      await one(dns({ name: "www.example.test", resolver: `127.0.0.1:${targets.refusedPort}`, transport: "tcp" })),
    ).toMatchObject({ state: "down", reason: "connect" });
    const udp = await one(dns({ name: "www.example.test", resolver: `127.0.0.1:${targets.refusedPort}` }, 1000));
    expect(udp.state).toBe("down");
    expect(["connect", "timeout"]).toContain(udp.reason);
  });
});

describe("grpc health against a local server", () => {
  const grpc = (opts: MessageInitShape<typeof GrpcCheckSchema>, timeoutMs = 3000) =>
    check("grpc", { timeoutMs, grpc: { address: grpcTarget.address, ...opts } });

  it("is up only when SERVING", async () => {
    const ok = await one(grpc({ service: "ok", metadata: { "x-probe": "yes" } }));
    expect(ok).toMatchObject({ state: "up", grpcStatus: "SERVING" });
    expect(grpcTarget.lastMetadata()["x-probe"]).toBe("yes");
    expect(ok.phases.connectMs).toBeGreaterThanOrEqual(0);
    expect(await one(grpc({ service: "down" }))).toMatchObject({
      state: "down",
      reason: "assertion:serving_status",
      grpcStatus: "NOT_SERVING",
    });
    expect(await one(grpc({ service: "nope" }))).toMatchObject({
      state: "down",
      reason: "assertion:serving_status",
      grpcStatus: "NOT_FOUND",
    });
  });

  it("speaks TLS with a custom CA, refuses untrusted servers unless told", async () => {
    expect(await one(grpc({ address: grpcTarget.tlsAddress!, tls: true, caPem: certs.caPem }))).toMatchObject({
      state: "up",
      grpcStatus: "SERVING",
    });
    expect(await one(grpc({ address: grpcTarget.tlsAddress!, tls: true }))).toMatchObject({
      state: "down",
      reason: "tls",
    });
    expect(await one(grpc({ address: grpcTarget.tlsAddress!, tls: true, insecureSkipVerify: true }))).toMatchObject({
      state: "up",
    });
  });

  it("classifies refused connections and non-gRPC peers", async () => {
    expect(await one(grpc({ address: `127.0.0.1:${targets.refusedPort}` }))).toMatchObject({
      state: "down",
      reason: "connect",
    });
    const http1 = await one(grpc({ address: `127.0.0.1:${new URL(targets.http).port}` }, 1500));
    expect(http1.state).toBe("down");
    expect(http1.reason).not.toBe("");
  });
});

describe("icmp through the system ping", () => {
  it("reports echo statistics", async () => {
    const o = await one(check("icmp", { icmp: { host: "127.0.0.1", packets: 3 } }));
    expect(o.state).toBe("up");
    expect(o.icmp).toMatchObject({ sent: 3, received: 3 });
    expect(o.icmp!.rttMinMs).toBeLessThanOrEqual(o.icmp!.rttAvgMs);
    expect(o.icmp!.rttAvgMs).toBeLessThanOrEqual(o.icmp!.rttMaxMs);
  });

  it("is down when no echo comes back", async () => {
    const o = await one(check("icmp", { timeoutMs: 2500, icmp: { host: silentIp, packets: 2 } }));
    expect(o).toMatchObject({ state: "down", reason: "connect", icmp: { received: 0 } });
  });

  it("states a missing capability clearly instead of crashing", async () => {
    const p = createProbers({ pingCommand: ["/nonexistent/ping"] }).get("icmp")!;
    const problem = await p.capabilityError!(check("icmp", { icmp: { host: "127.0.0.1" } }));
    expect(problem).toMatch(/iputils-ping/);
    expect(await probers.get("icmp")!.capabilityError!(check("icmp", { icmp: { host: "127.0.0.1" } }))).toBeUndefined();
  });
});
