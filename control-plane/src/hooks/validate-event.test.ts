import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { validateEvent } from "./validate-event.js";

const good = {
  id: "o-1:outage.opened",
  type: "outage.opened",
  timestamp: "2026-11-25T20:00:00.000Z",
  data: {
    checkId: "web",
    outageId: "o-1",
    state: "down",
    regions: { "eu-west": { state: "down", since: 1 } },
    startedAt: 1,
    confirmedAt: 2,
  },
};

function fields(value: unknown): string[] {
  try {
    validateEvent(value);
  } catch (err) {
    if (err instanceof ValidationError)
      return ((err.details?.problems ?? []) as { field: string }[]).map((p) => p.field);
    throw err;
  }
  return [];
}

describe("validateEvent", () => {
  it("accepts an event as the consensus engine builds it", () => {
    expect(validateEvent(good)).toEqual(good);
    // An open outage's resolvedAt is null: treated as absent.
    expect(validateEvent({ ...good, data: { ...good.data, resolvedAt: null, reason: null } }).data).toEqual(good.data);
    expect(fields({ ...good, type: "test" })).toEqual([]);
  });
  it("names every problem of a malformed event", () => {
    expect(fields(null)).toEqual(["event"]);
    expect(
      fields({
        id: "has space",
        type: "outage.exploded",
        timestamp: "later",
        data: { checkId: "Web!", state: "", regions: { x: 1 }, startedAt: "1" },
      }),
    ).toEqual(["id", "type", "timestamp", "data.checkId", "data.state", "data.startedAt", "data.regions.x"]);
  });
});
