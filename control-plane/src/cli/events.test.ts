import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { eventLine, followEvents } from "./events.js";
import type { ApiClient } from "./http.js";

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

  it("says when it follows the stream, on each connection, before any event", async () => {
    const said: string[] = [];
    const opened: Record<string, string>[] = [];
    const api = {
      open: async (_path: string, headers: Record<string, string>) => {
        opened.push(headers);
        said.push("(open)");
        return Object.assign(Readable.from([": connected\n\nevent: status\nid: 4-0\ndata: {}\n\n"]), {
          statusCode: 200,
        }) as unknown as IncomingMessage;
      },
    } as unknown as ApiClient;
    const seen = await followEvents(api, {
      query: "?label=team%3Dweb",
      print: (e) => said.push(`event ${e.id ?? ""}`),
      warn: () => undefined,
      connected: (line) => said.push(line),
      limit: 2,
      maxBackoffMs: 1,
    });
    expect(seen).toBe(2);
    expect(said).toEqual([
      "(open)",
      "events: following /v1/events?label=team%3Dweb from now",
      "event 4-0",
      "(open)",
      "events: following /v1/events?label=team%3Dweb after 4-0",
      "event 4-0",
    ]);
    expect(opened).toEqual([{}, { "last-event-id": "4-0" }]);
  });
});
