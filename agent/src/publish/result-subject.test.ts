import { MAX_PARTITIONS, parseResultSubject, partitionOf } from "@probemesh/proto";
import { describe, expect, it } from "vitest";
import { subjectForResult } from "./result-subject.js";

const self = { region: "eu-west", agentId: "agent-1" };
const uid = "8c0e4d5a-1f2b-4c3d-9e8f-7a6b5c4d3e2f";

describe("subjectForResult", () => {
  it("is the check's partition of this agent's subjects when the control plane announced partitions", () => {
    for (const p of [1, 16, 1024])
      expect(subjectForResult(self, { uid }, p)).toBe(`probemesh.results.eu-west.agent-1.${partitionOf(uid, p)}`);
    // What the control plane reads back: its binding parses the same tokens.
    expect(parseResultSubject(subjectForResult(self, { uid }, 16))).toEqual({
      region: "eu-west",
      agentId: "agent-1",
      partition: partitionOf(uid, 16),
    });
  });

  it("is the unpartitioned subject without a partition count or without a uid", () => {
    expect(subjectForResult(self, { uid }, 0)).toBe("probemesh.results.eu-west.agent-1");
    expect(subjectForResult(self, { uid: "" }, 16)).toBe("probemesh.results.eu-west.agent-1");
  });

  it("treats a count out of range (a broken control plane) as none rather than failing the result", () => {
    expect(subjectForResult(self, { uid }, MAX_PARTITIONS + 1)).toBe("probemesh.results.eu-west.agent-1");
    expect(subjectForResult(self, { uid }, 2.5)).toBe("probemesh.results.eu-west.agent-1");
  });
});
