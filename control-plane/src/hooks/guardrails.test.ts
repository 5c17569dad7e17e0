import { describe, expect, it } from "vitest";
import { decide, type AppliedState } from "./guardrails.js";
import type { Hook, HookEvent } from "./types.js";

const hook = (over: Partial<Hook> = {}): Hook => ({
  id: "lb",
  type: "haproxy",
  url: "",
  secret: "",
  previousSecrets: [],
  events: ["outage.opened", "outage.resolved"],
  checks: [],
  cooldownMs: 0,
  minHoldMs: 0,
  dryRun: false,
  timeoutMs: 1000,
  deadlineMs: 60_000,
  ...over,
});
const ev = (type: HookEvent["type"], at: number, id = `o1:${type}`): HookEvent => ({
  id,
  type,
  timestamp: new Date(at).toISOString(),
  data: { checkId: "web", state: "down", regions: {} },
});
const applied = (direction: "failover" | "failback", at: number, appliedAt = at): AppliedState => ({
  eventId: `x:${direction}`,
  eventType: direction === "failover" ? "outage.opened" : "outage.resolved",
  eventAt: at,
  direction,
  appliedAt,
});

describe("decide (guardrails)", () => {
  it("proceeds with no history, and always for test events", () => {
    expect(decide(hook(), ev("outage.opened", 1000), undefined, 2000)).toEqual({ kind: "proceed" });
    expect(decide(hook({ minHoldMs: 1e6 }), ev("test", 0), applied("failover", 1000), 2000)).toEqual({
      kind: "proceed",
    });
  });

  it("holds a failback until the failover has been in place for minHoldMs", () => {
    const d = decide(hook({ minHoldMs: 60_000 }), ev("outage.resolved", 5000), applied("failover", 1000), 10_000);
    expect(d).toMatchObject({ kind: "hold", untilMs: 61_000 });
    expect(decide(hook({ minHoldMs: 60_000 }), ev("outage.resolved", 5000), applied("failover", 1000), 61_000)).toEqual(
      { kind: "proceed" },
    );
    // A failover right after a failback is not held by minHoldMs, only by the cooldown.
    expect(decide(hook({ minHoldMs: 60_000 }), ev("outage.opened", 5000), applied("failback", 1000), 2000)).toEqual({
      kind: "proceed",
    });
    expect(
      decide(hook({ cooldownMs: 30_000 }), ev("outage.opened", 5000), applied("failback", 1000), 2000),
    ).toMatchObject({ kind: "hold", untilMs: 31_000 });
  });

  it("never lets an older event undo a newer one on a traffic-changing hook", () => {
    expect(decide(hook(), ev("outage.resolved", 500), applied("failover", 1000), 2000)).toMatchObject({
      kind: "superseded",
    });
    // Notification hooks deliver late events anyway: the receiver orders them by timestamp.
    expect(decide(hook({ type: "webhook" }), ev("outage.resolved", 500), applied("failover", 1000), 2000)).toEqual({
      kind: "proceed",
    });
  });

  it("does not hold a repeat of the same direction", () => {
    expect(
      decide(hook({ cooldownMs: 1e6 }), ev("outage.opened", 3000, "o2:outage.opened"), applied("failover", 1000), 2000),
    ).toEqual({ kind: "proceed" });
  });
});
