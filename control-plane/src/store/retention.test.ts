import { describe, expect, it } from "vitest";
import { dayPartitionId, partitionsBefore } from "./retention.js";

describe("retention", () => {
  it("computes UTC day partition ids", () => {
    expect(dayPartitionId(Date.UTC(2023, 10, 14, 23, 59, 59, 999))).toBe("20231114");
    expect(dayPartitionId(Date.UTC(2023, 10, 15))).toBe("20231115");
    expect(dayPartitionId(0)).toBe("19700101");
    expect(() => dayPartitionId(NaN)).toThrow(RangeError);
  });

  it("selects whole days before the cutoff day, never the cutoff day or odd ids", () => {
    const ids = ["20231113", "20231114", "20231115", "20231114", "tuple()", "all", "2023111"];
    expect(partitionsBefore(ids, Date.UTC(2023, 10, 15, 12))).toEqual(["20231113", "20231114"]);
    expect(partitionsBefore(ids, Date.UTC(2023, 10, 13))).toEqual([]);
  });
});
