/**
 * The agent's DNS prober against a real DNS server for every record type a check may ask for:
 * answers rendered as dig renders them (dig itself is the reference), and PTR and CAA judged by
 * expectAnswers, answersContain and answerRegex like the other types.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createProbers, type ProbeOutcome } from "@probemesh/agent";
import { CheckSchema, DNS_RECORD_TYPES, DnsCheckSchema } from "@probemesh/proto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DNS_TARGET_NAMES, startDnsTarget, type DnsTarget } from "../harness/targets-dns.js";

let dnsTarget: DnsTarget;
const dnsProber = createProbers().get("dns")!;

beforeAll(async () => {
  dnsTarget = await startDnsTarget();
});
afterAll(async () => {
  await dnsTarget?.close();
});

async function probe(dns: MessageInitShape<typeof DnsCheckSchema>): Promise<ProbeOutcome> {
  const check = create(CheckSchema, { id: "dns-records", type: "dns", intervalMs: 10_000, timeoutMs: 3000 });
  check.dns = create(DnsCheckSchema, { resolver: dnsTarget.address, ...dns });
  const [outcome] = await dnsProber.run(check, { signal: new AbortController().signal, timeoutMs: 3000 });
  return outcome!;
}

/** dig's short answer lines for one question to the target (asynchronous: the target runs in this process). */
async function dig(name: string, type: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    "dig",
    ["+short", "+norecurse", "+tries=1", "+time=2", `@127.0.0.1`, "-p", String(dnsTarget.port), name, type],
    { encoding: "utf8" },
  );
  return stdout.split("\n").filter((l) => l !== "");
}

describe("DNS record types against a real server", () => {
  it.each([...DNS_RECORD_TYPES])("%s answers render as dig renders them", async (type) => {
    const o = await probe({ name: DNS_TARGET_NAMES[type], recordType: type });
    expect(o.reason, o.message).toBe("");
    expect(o.dns?.rcode).toBe("NOERROR");
    expect(o.dns?.answers.length).toBeGreaterThan(0);
    expect([...(o.dns?.answers ?? [])].sort()).toEqual((await dig(DNS_TARGET_NAMES[type], type)).sort());
  });

  it("PTR: the target name, judged by expectAnswers, answersContain and answerRegex", async () => {
    const up = await probe({
      name: "10.0.0.127.in-addr.arpa.",
      recordType: "PTR",
      expectAnswers: ["www.example.test."],
      answersContain: ["www.example.test"],
      answerRegex: "^www\\.example\\.test\\.$",
    });
    expect(up).toMatchObject({ state: "up", reason: "", dns: { rcode: "NOERROR", answers: ["www.example.test."] } });
    const wrong = await probe({
      name: "25.0.0.127.in-addr.arpa",
      recordType: "PTR",
      expectAnswers: ["www.example.test."],
    });
    expect(wrong).toMatchObject({ state: "down", reason: "assertion:expect_answers" });
    expect(wrong.dns?.answers).toEqual(["mail.example.test."]);
    const missing = await probe({ name: "99.0.0.127.in-addr.arpa", recordType: "PTR", expectRcode: "NXDOMAIN" });
    expect(missing).toMatchObject({ state: "up", dns: { rcode: "NXDOMAIN", answers: [] } });
  });

  it('CAA: <flags> <tag> "<value>", judged by expectAnswers, answersContain and answerRegex', async () => {
    const all = ['0 issue "letsencrypt.org"', '0 issuewild ";"', '128 iodef "mailto:security@example.test"'];
    const up = await probe({ name: "example.test", recordType: "CAA", expectAnswers: all });
    expect(up.reason, up.message).toBe("");
    expect([...(up.dns?.answers ?? [])].sort()).toEqual([...all].sort());
    // The value may be written unquoted, as a TXT answer's may.
    const unquoted = await probe({
      name: "example.test",
      recordType: "CAA",
      answersContain: ["0 issue letsencrypt.org", '0 ISSUEWILD ";"'],
      answerRegex: '^0 issue "letsencrypt\\.org"$',
    });
    expect(unquoted.reason, unquoted.message).toBe("");
    const partial = await probe({
      name: "example.test",
      recordType: "CAA",
      expectAnswers: ['0 issue "letsencrypt.org"'],
    });
    expect(partial).toMatchObject({ state: "down", reason: "assertion:expect_answers" });
    const other = await probe({ name: "example.test", recordType: "CAA", answersContain: ['0 issue "pki.goog"'] });
    expect(other).toMatchObject({ state: "down", reason: "assertion:answers_contain" });
    const regex = await probe({ name: "example.test", recordType: "CAA", answerRegex: "pki\\.goog" });
    expect(regex).toMatchObject({ state: "down", reason: "assertion:answer_regex" });
  });
});
