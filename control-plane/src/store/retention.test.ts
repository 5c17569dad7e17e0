import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dayPartitionId, partitionsBefore, startRetention } from "./retention.js";

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

describe("startRetention", () => {
  const log = pino({ level: "silent" });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("drops partitions older than the retention at start and then every interval, surviving failures", async () => {
    vi.useFakeTimers();
    const now = Date.UTC(2023, 10, 15, 12);
    const cutoffs: number[] = [];
    let fail = true;
    const store = {
      dropPartitionsBefore: async (dayMs: number) => {
        cutoffs.push(dayMs);
        if (fail) {
          fail = false;
          throw new Error("ClickHouse down");
        }
        return ["20231101"];
      },
    };
    const retention = startRetention({ store, retentionDays: 7, log, everyMs: 1000, now: () => now });
    await retention.idle();
    expect(cutoffs).toEqual([now - 7 * 86_400_000]);
    await vi.advanceTimersByTimeAsync(1000);
    await retention.idle();
    expect(cutoffs).toHaveLength(2);
    retention.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(cutoffs).toHaveLength(2);
  });

  it("never runs two passes at once", async () => {
    vi.useFakeTimers();
    let inFlight = 0;
    let most = 0;
    const store = {
      dropPartitionsBefore: async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 2500));
        inFlight--;
        return [];
      },
    };
    const retention = startRetention({ store, retentionDays: 1, log, everyMs: 1000 });
    await vi.advanceTimersByTimeAsync(6000);
    retention.stop();
    expect(most).toBe(1);
  });
});
