/**
 * One contract between agent and control plane: every check the API accepts is runnable by the
 * agent. Checks are generated from proto's vocabulary (every type and every value of every enum),
 * validated by the control plane's validateCheck as the API does, then run by the agent's prober
 * for their type against real local targets. No run may end in the prober's own failure
 * (`internal`, "invalid check: ..."): the false global outage a record type accepted by the API
 * but unknown to the agent once opened. The reverse direction holds too: every check type has a
 * prober, and the agent announces exactly the vocabulary's capabilities.
 */
import { capabilitiesOf, createProbers, type ProbeOutcome } from "@probemesh/agent";
import { validateCheck } from "@probemesh/control-plane";
import {
  CAPABILITIES,
  CHECK_TYPES,
  DNS_RCODES,
  DNS_RECORD_TYPES,
  DNS_TRANSPORTS,
  HTTP_METHODS,
  IP_PREFERENCES,
  TLS_PROTOCOLS,
  type Check,
  type CheckType,
} from "@probemesh/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateTestCerts, type TestCerts } from "./harness/targets-certs.js";
import { DNS_TARGET_NAMES, startDnsTarget, type DnsTarget } from "./harness/targets-dns.js";
import { startGrpcTarget, type GrpcTarget } from "./harness/targets-grpc.js";
import { startTargets, type Targets } from "./harness/targets.js";

/** Deadline of each run: generous, as unreachable targets here refuse at once. */
const TIMEOUT_MS = 5000;

let certs: TestCerts;
let targets: Targets;
let dnsTarget: DnsTarget;
let grpcTarget: GrpcTarget;
const probers = createProbers();

beforeAll(async () => {
  certs = generateTestCerts();
  targets = await startTargets(certs);
  dnsTarget = await startDnsTarget();
  grpcTarget = await startGrpcTarget(certs.valid);
});

afterAll(async () => {
  await targets?.close();
  await dnsTarget?.close();
  await grpcTarget?.close();
  certs?.dispose();
});

/** One generated check in the API's JSON form, named by what it varies. */
interface Case {
  name: string;
  json: Record<string, unknown>;
}

let serial = 0;
function apiCheck(type: CheckType, options: Record<string, unknown>): Record<string, unknown> {
  return { id: `contract-${type}-${++serial}`, type, intervalMs: 10_000, timeoutMs: TIMEOUT_MS, [type]: options };
}

/**
 * The checks, generated after the targets start: per type, one case per value of each enum the
 * type has, plus one with every optional field the API accepts set, plus one unreachable target.
 */
function cases(): Case[] {
  const out: Case[] = [];
  const add = (name: string, type: CheckType, options: Record<string, unknown>) =>
    out.push({ name, json: apiCheck(type, options) });
  const refused = `127.0.0.1:${targets.refusedPort}`;
  const httpsPort = Number(new URL(targets.https.valid).port);

  // http: every method, every IP preference (and the system's order), every optional field.
  for (const method of HTTP_METHODS) add(`http method ${method}`, "http", { url: `${targets.http}/ok`, method });
  for (const ipPreference of [...IP_PREFERENCES, ""])
    add(`http ipPreference ${JSON.stringify(ipPreference)}`, "http", {
      url: `${targets.http}/ok`,
      ipPreference,
      allIps: true,
    });
  add("http every assertion", "http", {
    url: `${targets.http}/ok`,
    method: "POST",
    headers: { "x-token": "t", "content-type": "application/json" },
    body: '{"a":1}',
    expectStatus: [200, "201", "2xx"],
    bodyContains: "status",
    followRedirects: true,
    maxBodyBytes: 4096,
    bodyRegex: ['"status":\\s*"ok"', "^\\{"],
    bodyNotRegex: ["maintenance"],
    headerMatch: [
      { name: "x-build", regex: "^v\\d+", negate: false },
      { name: "x-missing", regex: ".", negate: true },
    ],
    jsonPath: [
      { path: "$.status", equals: '"ok"' },
      { path: "$.items.0.name", equals: '"a"' },
      { path: "items.0.name" },
    ],
    maxResponseTimeMs: TIMEOUT_MS,
  });
  add("https with a CA", "http", { url: `${targets.https.valid}/ok`, caPem: certs.caPem });
  add("https insecure", "http", { url: `${targets.https.selfSigned}/ok`, insecureSkipVerify: true });
  add("http unreachable", "http", { url: `http://${refused}/` });

  // tcp
  add("tcp", "tcp", { host: "127.0.0.1", port: Number(new URL(targets.http).port) });
  add("tcp unreachable", "tcp", { host: "127.0.0.1", port: targets.refusedPort });

  // dns: every record type over every transport, every rcode as the expectation, every assertion.
  for (const recordType of DNS_RECORD_TYPES)
    for (const transport of DNS_TRANSPORTS)
      add(`dns ${recordType} over ${transport}`, "dns", {
        name: DNS_TARGET_NAMES[recordType],
        recordType,
        transport,
        resolver: dnsTarget.address,
        answerRegex: ".",
      });
  for (const expectRcode of DNS_RCODES)
    add(`dns expectRcode ${expectRcode}`, "dns", {
      name: "www.example.test",
      expectRcode,
      resolver: dnsTarget.address,
    });
  add("dns expectAnswers", "dns", {
    name: "example.test.",
    recordType: "CAA",
    resolver: dnsTarget.address,
    expectAnswers: ['0 issue "letsencrypt.org"', "0 issuewild ;", '128 iodef "mailto:security@example.test"'],
    answersContain: ["0 issue letsencrypt.org"],
  });
  add("dns root name", "dns", { name: ".", recordType: "NS", resolver: dnsTarget.address, expectRcode: "REFUSED" });
  add("dns unreachable", "dns", { name: "www.example.test", resolver: refused, transport: "tcp" });

  // tls: every minimum protocol, and the optional fields.
  for (const minProtocol of TLS_PROTOCOLS)
    add(`tls minProtocol ${minProtocol}`, "tls", {
      host: "127.0.0.1",
      port: httpsPort,
      minProtocol,
      caPem: certs.caPem,
    });
  add("tls every option", "tls", {
    host: "localhost",
    port: httpsPort,
    serverName: "localhost",
    minDaysRemaining: 1,
    caPem: certs.caPem,
    insecureSkipVerify: false,
  });
  add("tls unreachable", "tls", { host: "127.0.0.1", port: targets.refusedPort, insecureSkipVerify: true });

  // grpc: plaintext and TLS, with a service and metadata.
  add("grpc plaintext", "grpc", { address: grpcTarget.address, service: "ok", metadata: { "x-token": "t" } });
  add("grpc tls", "grpc", { address: grpcTarget.tlsAddress, tls: true, caPem: certs.caPem });
  add("grpc tls insecure", "grpc", { address: grpcTarget.tlsAddress, tls: true, insecureSkipVerify: true });
  add("grpc unreachable", "grpc", { address: refused });

  // icmp
  add("icmp", "icmp", { host: "127.0.0.1", packets: 1, maxLossPercent: 100 });
  return out;
}

/** The agent's own failure: the prober could not run what the API accepted. */
const notRunnable = (o: ProbeOutcome) => o.reason === "internal";

describe("every check the API accepts is runnable by the agent", () => {
  it("covers every check type and every value of every enum of the vocabulary", () => {
    const all = cases();
    const used = (type: CheckType, field: string) =>
      new Set(all.filter((c) => c.json.type === type).map((c) => (c.json[type] as Record<string, unknown>)[field]));
    expect(new Set(all.map((c) => c.json.type))).toEqual(new Set(CHECK_TYPES));
    for (const [type, field, values] of [
      ["http", "method", HTTP_METHODS],
      ["http", "ipPreference", IP_PREFERENCES],
      ["dns", "recordType", DNS_RECORD_TYPES],
      ["dns", "transport", DNS_TRANSPORTS],
      ["dns", "expectRcode", DNS_RCODES],
      ["tls", "minProtocol", TLS_PROTOCOLS],
    ] as const)
      for (const v of values) expect(used(type, field).has(v), `${type}.${field} ${v}`).toBe(true);
  });

  it("no generated check ends in the prober's own failure (`internal`, invalid check)", async () => {
    // One at a time: a run's verdict should not depend on how busy the machine is.
    const runs: { name: string; outcomes: ProbeOutcome[]; problem?: string }[] = [];
    for (const { name, json } of cases()) {
      let check: Check;
      try {
        check = validateCheck(json, { mode: "create" });
      } catch (err) {
        // A generated check the API refuses is a bug in this test, not the contract: say which.
        throw new Error(`the API refused "${name}": ${err instanceof Error ? err.message : String(err)}`);
      }
      const prober = probers.get(check.type);
      if (!prober) {
        runs.push({ name, outcomes: [], problem: `no prober for type ${check.type}` });
        continue;
      }
      // ICMP without a usable ping is the `capability` failure: allowed, never `internal`.
      if ((await prober.capabilityError?.(check)) !== undefined) continue;
      const outcomes = await prober.run(check, { signal: new AbortController().signal, timeoutMs: check.timeoutMs });
      runs.push({ name, outcomes });
    }
    const broken = runs.flatMap(({ name, outcomes, problem }) => [
      ...(problem ? [`${name}: ${problem}`] : []),
      ...outcomes.filter(notRunnable).map((o) => `${name}: ${o.reason} ${o.message}`),
    ]);
    expect(broken).toEqual([]);
    // Every run produced a verdict, and runs against serving targets were judged up: the contract
    // is about running checks, and a check that cannot pass anywhere would not be runnable either.
    for (const { name, outcomes } of runs) expect(outcomes.length, name).toBeGreaterThan(0);
    const down = runs
      .filter(({ name }) => !/unreachable|expectRcode (?!NOERROR)/.test(name))
      .flatMap(({ name, outcomes }) =>
        outcomes.filter((o) => o.state === "down").map((o) => `${name}: ${o.reason} ${o.message}`),
      );
    expect(down).toEqual([]);
  });
});

describe("every check type has a prober, and the agent announces the vocabulary", () => {
  it("has one prober per check type, of that type", () => {
    expect([...probers.keys()].sort()).toEqual([...CHECK_TYPES].sort());
    for (const [type, prober] of probers) expect(prober.type).toBe(type);
  });

  it("announces exactly CAPABILITIES", () => {
    expect(capabilitiesOf(probers)).toEqual([...CAPABILITIES].sort());
  });
});
