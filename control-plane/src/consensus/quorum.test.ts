import { describe, expect, it } from "vitest";
import { parseQuorum, policyFromCheck } from "./policy.js";
import { decideGlobal } from "./quorum.js";
import { create } from "@bufbuild/protobuf";
import { CheckSchema } from "@probemesh/proto";

describe("decideGlobal", () => {
  it.each([
    [["down", "down", "up"], "majority", "down"],
    [["down", "up", "up"], "majority", "partial"],
    [["down", "down", "up", "up"], "majority", "partial"], // tie is not down
    [["down", "down", "unknown"], "majority", "down"], // 2 of 2 eligible, and 2 of 3 regions are eligible
    [["down", "unknown", "unknown"], "majority", "unknown"], // too few eligible to decide
    [["unknown", "unknown", "unknown"], "any", "unknown"],
    [["down", "up", "up"], "any", "down"],
    [["down", "down", "up"], "all", "partial"],
    [["down", "down", "unknown"], "all", "down"],
    [["down", "down", "up", "up"], 2, "down"],
    [["down", "unknown", "unknown", "unknown"], 2, "unknown"],
    [["degraded", "degraded", "up"], "majority", "degraded"],
    [["degraded", "up", "up"], "majority", "up"],
    [["up"], "majority", "up"],
    [["down"], "majority", "down"],
  ] as const)("%j under %s -> %s", (states, quorum, expected) => {
    expect(decideGlobal(states, quorum, states.length)).toBe(expected);
  });
});

describe("policy", () => {
  it("parses quorum spellings and rejects nonsense", () => {
    expect(parseQuorum("")).toBe("majority");
    expect(parseQuorum("all")).toBe("all");
    expect(parseQuorum("3")).toBe(3);
    expect(parseQuorum(2)).toBe(2);
    expect(parseQuorum("0")).toBeUndefined();
    expect(parseQuorum("most")).toBeUndefined();
    expect(parseQuorum("1.5")).toBeUndefined();
  });

  it("reads a registry check, proto3 zero values meaning defaults", () => {
    const p = policyFromCheck(
      create(CheckSchema, {
        id: "web",
        type: "http",
        intervalMs: 5000,
        timeoutMs: 1000,
        regions: ["b", "a"],
        quorum: "2",
      }),
    );
    expect(p).toEqual({
      checkId: "web",
      checkUid: "",
      dependsOn: [],
      intervalMs: 5000,
      timeoutMs: 1000,
      regions: ["a", "b"],
      failureThreshold: 2,
      recoveryThreshold: 2,
      quorum: 2,
      canary: false,
      sinceVersion: 0,
      notBefore: 0,
    });
  });
});
