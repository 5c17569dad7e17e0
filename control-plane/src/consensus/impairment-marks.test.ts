import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  createImpairmentBoard,
  createMarkWriter,
  markKey,
  parseMarkKey,
  type ImpairmentMark,
} from "./impairment-marks.js";

const log = pino({ level: "silent" });
const mark = (reason: string): string => JSON.stringify({ reason, since: 1 });

describe("impairment marks", () => {
  it("keys escape the agent id and parse back", () => {
    const id = "agent.eu west:1";
    expect(markKey(id, 7)).toMatch(/^[-_/=a-zA-Z0-9]+\.p7$/);
    expect(parseMarkKey(markKey(id, 7))).toEqual({ agentId: id, partition: 7 });
    expect(parseMarkKey("a.b.p1")).toBeUndefined();
    expect(parseMarkKey("agent.p01")).toBeUndefined();
  });

  it("an agent is impaired elsewhere by other partitions' marks only", () => {
    const changed: string[] = [];
    const board = createImpairmentBoard({ log, onChange: (a) => changed.push(a) });
    board.apply(markKey("a1", 3), mark("canary down"));
    expect(board.elsewhere("a1", 3)).toBeNull();
    expect(board.elsewhere("a1", 0)).toBe("impaired in partition 3: canary down");
    board.apply(markKey("a1", 1), mark("share"));
    expect(board.elsewhere("a1", 0)).toBe("impaired in partition 1: share");
    expect(board.elsewhere("a1", 1)).toBe("impaired in partition 3: canary down");
    board.apply(markKey("a1", 1), mark("share")); // same again: no change
    board.apply(markKey("a1", 1), undefined);
    board.apply(markKey("a1", 3), undefined);
    expect(board.elsewhere("a1", 0)).toBeNull();
    expect(changed).toEqual(["a1", "a1", "a1", "a1"]);
    expect(board.stats()).toEqual({ marks: 0, malformed: 0 });
  });

  it("a malformed mark is ignored and counted, and drops what it replaced", () => {
    const board = createImpairmentBoard({ log, onChange: () => undefined });
    board.apply(markKey("a1", 2), mark("canary down"));
    for (const bad of ["{", "null", "[]", '{"reason":"","since":1}', '{"reason":"x","since":"now"}'])
      expect(() => board.apply(markKey("a1", 2), bad)).not.toThrow();
    board.apply("not-a-mark-key", mark("x"));
    expect(board.elsewhere("a1", 0)).toBeNull();
    expect(board.stats()).toEqual({ marks: 0, malformed: 6 });
  });

  it("the writer writes the newest judgement in order, and nothing once the lease is gone", async () => {
    const writes: string[] = [];
    let held = true;
    const writer = createMarkWriter({
      marks: {
        put: async (p, a, m: ImpairmentMark) => void writes.push(`put ${a}.p${p} ${m.reason}`),
        delete: async (p, a) => void writes.push(`delete ${a}.p${p}`),
      },
      partition: 4,
      held: () => held,
      log,
    });
    writer.set("a1", { reason: "r1", since: 1 });
    writer.set("a2", { reason: "r2", since: 1 });
    writer.set("a1", null);
    expect(await writer.flush()).toBe(true);
    expect(writes).toEqual(["put a2.p4 r2", "delete a1.p4"]);
    held = false;
    writer.set("a3", { reason: "r3", since: 1 });
    expect(await writer.flush()).toBe(false);
    expect(writes).toHaveLength(2);
    expect(writer.size).toBe(1);
  });
});
