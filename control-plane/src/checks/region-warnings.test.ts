import { describe, expect, it } from "vitest";
import { editDistance, regionWarnings } from "./region-warnings.js";
import { validateCheck } from "./validate-check.js";

const tcp = (extra: Record<string, unknown> = {}) =>
  validateCheck({ id: "db", type: "tcp", tcp: { host: "h", port: 1 }, ...extra }, { mode: "create" });
const agent = (region: string, capabilities = ["http", "tcp"]) => ({ region, capabilities });
const mesh = [agent("eu-west"), agent("eu-west"), agent("us-east"), agent("ap-south", ["http"])];

describe("regionWarnings", () => {
  it("has nothing to say when every listed region has an agent that can run the check", () => {
    expect(regionWarnings(tcp({ regions: ["eu-west", "us-east"], quorum: 2 }), mesh)).toEqual([]);
    expect(regionWarnings(tcp(), mesh)).toEqual([]);
  });

  it("names a region no agent has registered for, suggesting the nearest known one", () => {
    expect(regionWarnings(tcp({ regions: ["us-east", "eu-wset"] }), mesh)).toEqual([
      { field: "regions[1]", message: 'no agent has registered for region "eu-wset"; did you mean "eu-west"?' },
    ]);
    expect(regionWarnings(tcp({ regions: ["mars-1"] }), mesh)).toEqual([
      { field: "regions[0]", message: 'no agent has registered for region "mars-1"' },
    ]);
    expect(regionWarnings(tcp({ regions: ["eu-west"] }), [])).toEqual([
      { field: "regions[0]", message: 'no agent has registered for region "eu-west"' },
    ]);
  });

  it("names a region whose agents cannot run the check's type: it will abstain", () => {
    expect(regionWarnings(tcp({ regions: ["ap-south", "eu-west"] }), mesh)).toEqual([
      {
        field: "regions[0]",
        message: 'no agent in region "ap-south" can run tcp checks; the region abstains until one can',
      },
    ]);
  });

  it("warns on a numeric quorum larger than the regions that can run the check", () => {
    // No regions listed = every region: eu-west and us-east can run tcp, ap-south cannot.
    expect(regionWarnings(tcp({ quorum: 3 }), mesh)).toEqual([
      {
        field: "quorum",
        message: "needs 3 regions but 2 regions have an agent that can run tcp checks; no verdict until more do",
      },
    ]);
    expect(regionWarnings(tcp({ quorum: 2 }), mesh)).toEqual([]);
    expect(regionWarnings(tcp({ quorum: 1 }), [])).toMatchObject([{ field: "quorum" }]);
    expect(regionWarnings(tcp({ regions: ["eu-west", "mars-1"], quorum: 2 }), mesh).map((w) => w.field)).toEqual([
      "regions[1]",
      "quorum",
    ]);
    expect(regionWarnings(tcp({ quorum: "all" }), [])).toEqual([]);
  });
});

describe("editDistance", () => {
  it.each([
    ["eu-west", "eu-west", 0],
    ["eu-wset", "eu-west", 1],
    ["eu-wes", "eu-west", 1],
    ["us-east", "eu-west", 4],
    ["", "abc", 3],
  ])("%j to %j is %d", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});
