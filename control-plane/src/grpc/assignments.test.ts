import { describe, expect, it } from "vitest";
import type { CheckRecord } from "../checks/check-record.js";
import { validateCheck } from "../checks/validate-check.js";
import { assignedChecks, assignmentDelta } from "./assignments.js";

const record = (id: string, regions: string[] = []): CheckRecord => ({
  check: validateCheck({ id, type: "tcp", regions, tcp: { host: "h", port: 1 } }, { mode: "create" }),
  createdAt: 0,
  updatedAt: 0,
  revision: 1,
});

const httpRecord = (id: string, regions: string[] = []): CheckRecord => ({
  ...record(id),
  check: validateCheck({ id, type: "http", regions, http: { url: "https://example.com" } }, { mode: "create" }),
});

const agent = (region: string, capabilities = ["http", "tcp"]) => ({ region, capabilities });
const eu = agent("eu-west");

describe("assignments", () => {
  it("assigns checks without regions everywhere and regional ones only to their regions", () => {
    const all = [
      record("any"),
      record("eu", ["eu-west"]),
      record("us", ["us-east"]),
      record("both", ["eu-west", "us-east"]),
    ];
    expect(assignedChecks(all, eu).map((c) => c.id)).toEqual(["any", "eu", "both"]);
    expect(assignedChecks(all, agent("ap-south")).map((c) => c.id)).toEqual(["any"]);
  });

  it("assigns a check only to agents whose capabilities include its type", () => {
    const all = [record("tcp-any"), httpRecord("http-any"), httpRecord("http-eu", ["eu-west"])];
    expect(assignedChecks(all, agent("eu-west", ["tcp"])).map((c) => c.id)).toEqual(["tcp-any"]);
    expect(assignedChecks(all, agent("eu-west", ["http"])).map((c) => c.id)).toEqual(["http-any", "http-eu"]);
    // Announcing nothing (no agent release does) gets nothing: it cannot be shown to run anything.
    expect(assignedChecks(all, agent("eu-west", []))).toEqual([]);
    // Capabilities unknown to the vocabulary are ignored, not errors.
    expect(assignedChecks(all, agent("eu-west", ["ftp", "tcp"])).map((c) => c.id)).toEqual(["tcp-any"]);
  });

  it("sends an incapable agent no delta for a check it cannot run", () => {
    const assigned = new Set<string>();
    const tcpOnly = agent("eu-west", ["tcp"]);
    expect(assignmentDelta({ type: "upsert", version: 3, record: httpRecord("h") }, tcpOnly, assigned)).toBeUndefined();
    expect(assignmentDelta({ type: "delete", version: 4, id: "h" }, tcpOnly, assigned)).toBeUndefined();
    expect(assigned.size).toBe(0);
    expect(
      assignmentDelta({ type: "upsert", version: 5, record: record("t") }, tcpOnly, assigned)?.upserted,
    ).toHaveLength(1);
  });

  it("turns registry changes into deltas for one region", () => {
    const assigned = new Set<string>();
    const up = assignmentDelta({ type: "upsert", version: 5, record: record("a", ["eu-west"]) }, eu, assigned);
    expect(up?.version).toBe(5n);
    expect(up?.upserted.map((c) => c.id)).toEqual(["a"]);
    expect([...assigned]).toEqual(["a"]);

    // Moved out of the region: removed for this agent.
    const moved = assignmentDelta({ type: "upsert", version: 6, record: record("a", ["us-east"]) }, eu, assigned);
    expect(moved?.removed).toEqual(["a"]);
    expect(moved?.upserted).toEqual([]);
    expect(assigned.size).toBe(0);

    // Changes to checks the agent never had are not its business.
    expect(
      assignmentDelta({ type: "upsert", version: 7, record: record("b", ["us-east"]) }, eu, assigned),
    ).toBeUndefined();
    expect(assignmentDelta({ type: "delete", version: 8, id: "b" }, eu, assigned)).toBeUndefined();

    assignmentDelta({ type: "upsert", version: 9, record: record("c") }, eu, assigned);
    expect(assignmentDelta({ type: "delete", version: 10, id: "c" }, eu, assigned)?.removed).toEqual(["c"]);
  });
});
