import { describe, expect, it } from "vitest";
import { eventLine } from "./events.js";

describe("probemesh events lines", () => {
  it("a transition held back from hooks says by what", () => {
    const data = (held?: object) =>
      JSON.stringify({
        id: "o:outage.opened",
        type: "outage.opened",
        checkId: "web",
        at: 0,
        data: { checkId: "web", state: "down" },
        ...(held ? { held } : {}),
      });
    expect(eventLine({ id: "1-0", event: "transition", data: data() })).toBe(
      "1970-01-01T00:00:00.000Z transition outage.opened web state=down",
    );
    expect(eventLine({ id: "1-0", event: "transition", data: data({ by: "maintenance", windowId: "upgrade" }) })).toBe(
      "1970-01-01T00:00:00.000Z transition outage.opened web state=down held=maintenance:upgrade",
    );
    expect(
      eventLine({ id: "1-0", event: "transition", data: data({ by: "dependency", checkIds: ["db", "cache"] }) }),
    ).toBe("1970-01-01T00:00:00.000Z transition outage.opened web state=down held=dependency:db,cache");
  });
});
