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

describe("assignments", () => {
  it("assigns checks without regions everywhere and regional ones only to their regions", () => {
    const all = [
      record("any"),
      record("eu", ["eu-west"]),
      record("us", ["us-east"]),
      record("both", ["eu-west", "us-east"]),
    ];
    expect(assignedChecks(all, "eu-west").map((c) => c.id)).toEqual(["any", "eu", "both"]);
    expect(assignedChecks(all, "ap-south").map((c) => c.id)).toEqual(["any"]);
  });

  it("turns registry changes into deltas for one region", () => {
    const assigned = new Set<string>();
    const up = assignmentDelta({ type: "upsert", version: 5, record: record("a", ["eu-west"]) }, "eu-west", assigned);
    expect(up?.version).toBe(5n);
    expect(up?.upserted.map((c) => c.id)).toEqual(["a"]);
    expect([...assigned]).toEqual(["a"]);

    // Moved out of the region: removed for this agent.
    const moved = assignmentDelta(
      { type: "upsert", version: 6, record: record("a", ["us-east"]) },
      "eu-west",
      assigned,
    );
    expect(moved?.removed).toEqual(["a"]);
    expect(moved?.upserted).toEqual([]);
    expect(assigned.size).toBe(0);

    // Changes to checks the agent never had are not its business.
    expect(
      assignmentDelta({ type: "upsert", version: 7, record: record("b", ["us-east"]) }, "eu-west", assigned),
    ).toBeUndefined();
    expect(assignmentDelta({ type: "delete", version: 8, id: "b" }, "eu-west", assigned)).toBeUndefined();

    assignmentDelta({ type: "upsert", version: 9, record: record("c") }, "eu-west", assigned);
    expect(assignmentDelta({ type: "delete", version: 10, id: "c" }, "eu-west", assigned)?.removed).toEqual(["c"]);
  });
});
