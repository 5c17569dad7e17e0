import { partitionOf, resultSubject, type Check } from "@probemesh/proto";
import { checkFixture } from "@probemesh/proto/testing";
import { pino } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import type { Enrollments } from "../trust/enrollment.js";
import { createResultBinding, createUntrustedLog, UNTRUSTED_REASONS, type ResultBinding } from "./result-binding.js";

const claim = (over: Partial<{ checkId: string; agentId: string; region: string }> = {}) => ({
  checkId: "web",
  agentId: "agent-eu",
  region: "eu-west",
  ...over,
});

const P = 16;
const WEB_UID = "6f1c1e4a-3b8e-4e51-9d0c-2a7f5b9e8c11";

describe("result binding", () => {
  let enrollments: Enrollments;
  let binding: ResultBinding;
  const checks = new Map<string, Check>();

  beforeEach(async () => {
    enrollments = createMemoryEnrollments();
    await enrollments.enroll({ id: "agent-eu", region: "eu-west", provider: "aws" });
    await enrollments.enroll({ id: "agent-us", region: "us-east", provider: "gcp" });
    await enrollments.enroll({ id: "agent-old", region: "eu-west", provider: "aws" });
    await enrollments.revoke("agent-old");
    checks.clear();
    checks.set("web", checkFixture("web", { regions: ["eu-west", "us-east"], uid: WEB_UID }));
    checks.set("everywhere", checkFixture("everywhere"));
    checks.set("us-only", checkFixture("us-only", { regions: ["us-east"] }));
    binding = createResultBinding({ enrollments, check: (id) => checks.get(id), partitions: P });
  });

  it("trusts a result of an enrolled agent, for its region, on its own subject, of a check it runs", () => {
    expect(binding.problem(claim(), resultSubject("eu-west", "agent-eu"))).toBeUndefined();
    expect(binding.problem(claim({ checkId: "everywhere" }), resultSubject("eu-west", "agent-eu"))).toBeUndefined();
    // Stored rows have no subject: enrollment and assignment are still checked.
    expect(binding.problem(claim())).toBeUndefined();
  });

  it("subjectMismatch: the payload names another region or agent than the subject it came on", () => {
    const own = resultSubject("eu-west", "agent-eu");
    expect(binding.problem(claim({ agentId: "agent-us", region: "us-east" }), own)).toBe("subjectMismatch");
    expect(binding.problem(claim({ region: "us-east" }), own)).toBe("subjectMismatch");
    expect(binding.problem(claim({ agentId: "agent-us" }), own)).toBe("subjectMismatch");
    // Near misses: a prefix of a token, extra tokens, another subject tree.
    expect(binding.problem(claim(), "probemesh.results.eu-west.agent-eu.x")).toBe("subjectMismatch");
    expect(binding.problem(claim(), "probemesh.results.eu-west.agent-e")).toBe("subjectMismatch");
    expect(binding.problem(claim(), "probemesh.results.eu-wes.tagent-eu")).toBe("subjectMismatch");
    expect(binding.problem(claim(), "probemesh.resultz.eu-west.agent-eu")).toBe("subjectMismatch");
    expect(binding.problem(claim(), "probemesh.results.eu-westXagent-eu")).toBe("subjectMismatch");
    // A dot inside a claimed token cannot pass as two tokens.
    expect(binding.problem(claim({ region: "eu.west", agentId: "x" }), "probemesh.results.eu.west.x")).toBe(
      "subjectMismatch",
    );
  });

  it("notEnrolled: nobody enrolled this agent id", () => {
    expect(binding.problem(claim({ agentId: "ghost" }), resultSubject("eu-west", "ghost"))).toBe("notEnrolled");
    expect(binding.problem(claim({ agentId: "ghost" }))).toBe("notEnrolled");
  });

  it("revoked: the agent was enrolled and is revoked", () => {
    expect(binding.problem(claim({ agentId: "agent-old" }), resultSubject("eu-west", "agent-old"))).toBe("revoked");
  });

  it("wrongRegion: an enrolled agent speaking for another region, even on the matching subject", () => {
    expect(binding.problem(claim({ region: "us-east" }), resultSubject("us-east", "agent-eu"))).toBe("wrongRegion");
    expect(binding.problem(claim({ region: "mars-1" }))).toBe("wrongRegion");
  });

  it("notAssigned: the check does not run in the agent's region, or does not exist", () => {
    expect(binding.problem(claim({ checkId: "us-only" }), resultSubject("eu-west", "agent-eu"))).toBe("notAssigned");
    expect(binding.problem(claim({ checkId: "nope" }), resultSubject("eu-west", "agent-eu"))).toBe("notAssigned");
    expect(binding.hasCheck("us-only")).toBe(true);
    expect(binding.hasCheck("nope")).toBe(false);
    // Follows the checks as they change.
    checks.set("us-only", checkFixture("us-only", { regions: ["us-east", "eu-west"] }));
    expect(binding.problem(claim({ checkId: "us-only" }))).toBeUndefined();
  });

  it("accepts the partitioned subject of the result's check, and the 4-token one", () => {
    const p = partitionOf(WEB_UID, P);
    expect(binding.problem(claim(), resultSubject("eu-west", "agent-eu", p))).toBeUndefined();
    expect(binding.problem(claim(), resultSubject("eu-west", "agent-eu"))).toBeUndefined();
    // The partition does not hide the sender: region and agent are still the subject's.
    expect(binding.problem(claim({ agentId: "agent-us" }), resultSubject("eu-west", "agent-eu", p))).toBe(
      "subjectMismatch",
    );
    expect(binding.problem(claim(), `${resultSubject("eu-west", "agent-eu")}.${P + 2000}`)).toBe("subjectMismatch");
    expect(binding.problem(claim(), `${resultSubject("eu-west", "agent-eu")}.07`)).toBe("subjectMismatch");
  });

  it("partition: a partitioned subject whose partition is not its check's", () => {
    const p = partitionOf(WEB_UID, P);
    for (const other of [0, 1, 2, P - 1, P, 1023].filter((q) => q !== p))
      expect(binding.problem(claim(), resultSubject("eu-west", "agent-eu", other)), `partition ${other}`).toBe(
        "partition",
      );
    // A check without a uid (created before uids) is published on the 4-token subject only.
    expect(binding.problem(claim({ checkId: "everywhere" }), resultSubject("eu-west", "agent-eu", 0))).toBe(
      "partition",
    );
    // Stored rows have no subject, so no partition to check.
    expect(binding.problem(claim())).toBeUndefined();
    // The check's partition follows its uid (a check deleted and created again has another).
    const next = "0b2d7c1e-9a34-4f6e-8e21-5c3d1f0a7b99";
    checks.set("web", checkFixture("web", { regions: ["eu-west"], uid: next }));
    expect(binding.problem(claim(), resultSubject("eu-west", "agent-eu", partitionOf(next, P)))).toBeUndefined();
  });

  it("is checked after enrollment and assignment, so those reasons keep their meaning", () => {
    const wrong = (partitionOf(WEB_UID, P) + 1) % P;
    expect(binding.problem(claim({ agentId: "ghost" }), resultSubject("eu-west", "ghost", wrong))).toBe("notEnrolled");
    expect(binding.problem(claim({ checkId: "us-only" }), resultSubject("eu-west", "agent-eu", wrong))).toBe(
      "notAssigned",
    );
  });

  it.each([0, 1025, 1.5])("refuses %s partitions", (partitions) => {
    expect(() => createResultBinding({ enrollments, check: () => undefined, partitions })).toThrow(RangeError);
  });

  it("a revocation takes effect on the next result", async () => {
    expect(binding.problem(claim())).toBeUndefined();
    await enrollments.revoke("agent-eu");
    expect(binding.problem(claim(), resultSubject("eu-west", "agent-eu"))).toBe("revoked");
  });
});

describe("untrusted log", () => {
  function setup(opts: { maxKeys?: number } = {}) {
    let clock = 1_000_000;
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const untrusted = createUntrustedLog({ log, now: () => clock, everyMs: 60_000, ...opts });
    return { untrusted, lines, advance: (ms: number) => (clock += ms) };
  }

  it("counts every drop per reason", () => {
    const { untrusted } = setup();
    for (const reason of UNTRUSTED_REASONS) untrusted.drop(reason, claim());
    untrusted.drop("notEnrolled", claim({ agentId: "ghost" }));
    expect(untrusted.counts()).toEqual({
      subjectMismatch: 1,
      notEnrolled: 2,
      revoked: 1,
      wrongRegion: 1,
      notAssigned: 1,
      partition: 1,
    });
  });

  it("logs the first drop per agent and reason, then at most once a minute with the count in between", () => {
    const { untrusted, lines, advance } = setup();
    for (let i = 0; i < 100; i++) untrusted.drop("subjectMismatch", claim(), undefined, { streamSeq: i });
    untrusted.drop("wrongRegion", claim());
    untrusted.drop("subjectMismatch", claim({ agentId: "other" }));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      msg: "untrusted probe result dropped",
      reason: "subjectMismatch",
      agentId: "agent-eu",
      streamSeq: 0,
    });
    advance(59_000);
    untrusted.drop("subjectMismatch", claim());
    expect(lines).toHaveLength(3);
    advance(1_000);
    untrusted.drop("subjectMismatch", claim());
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ reason: "subjectMismatch", droppedSinceLastLine: 100 });
    expect(untrusted.counts().subjectMismatch).toBe(103);
  });

  it("keys lines by the subject's sender, not by what the payload claims", () => {
    const { untrusted, lines } = setup();
    const own = "probemesh.results.eu-west.agent-eu";
    for (let i = 0; i < 50; i++)
      untrusted.drop("subjectMismatch", claim({ agentId: `ghost-${i}`, region: `x${i}` }), own);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ reason: "subjectMismatch", subject: own, agentId: "ghost-0", region: "x0" });
    // On partitioned subjects the sender is still the agent token, whatever partition each result names.
    for (let p = 0; p < 16; p++) untrusted.drop("partition", claim(), `${own}.${p}`);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ reason: "partition", subject: `${own}.0` });
  });

  it("bounds what it remembers: a flood of invented agent ids shares one line a minute", () => {
    const { untrusted, lines, advance } = setup({ maxKeys: 10 });
    for (let i = 0; i < 10_000; i++) untrusted.drop("notEnrolled", claim({ agentId: `fake-${i}` }));
    expect(lines.length).toBe(11);
    expect(lines[10]).toMatchObject({ note: expect.stringMatching(/too many distinct senders/) });
    expect(untrusted.counts().notEnrolled).toBe(10_000);
    advance(60_000);
    for (let i = 0; i < 10_000; i++) untrusted.drop("notEnrolled", claim({ agentId: `more-${i}` }));
    // The quiet pairs are forgotten, new ones take their slots; the rest share the overflow line.
    expect(lines.length).toBeLessThanOrEqual(11 + 11);
  });
});
