import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "./memory-agents.js";
import { agentView, parseAgentRecord, withHeartbeat, withStreamClosed, withStreamOpened } from "./presence.js";

const agent = { id: "a1", region: "eu-west", provider: "test", version: "0.1.0", capabilities: ["http", "tcp"] };
const stats = { assignmentVersion: 7, outboxDepth: 3, lastSeq: 42, schedulingLagP99Ms: 1.5 };

describe("agent presence", () => {
  it("is connected with an open stream seen within 15 s, and not after", () => {
    const r = withStreamOpened(undefined, agent, { id: "s1", replica: "r1" }, 5, 1000);
    expect(agentView(r, 1000)).toMatchObject({
      ...agent,
      connected: true,
      connectedAt: 1000,
      lastSeenAt: 1000,
      assignmentVersion: 5,
    });
    expect(agentView(r, 16_000).connected).toBe(true);
    expect(agentView(r, 16_001).connected).toBe(false);
  });

  it("is not connected on heartbeats alone", () => {
    const r = withHeartbeat(undefined, agent, stats, 1000);
    expect(agentView(r, 1000)).toMatchObject({ connected: false, connectedAt: null, ...stats });
  });

  it("heartbeats refresh lastSeenAt and stats but keep the stream", () => {
    const opened = withStreamOpened(undefined, agent, { id: "s1", replica: "r1" }, 5, 1000);
    const r = withHeartbeat(opened, agent, stats, 20_000);
    expect(agentView(r, 30_000)).toMatchObject({ connected: true, lastSeenAt: 20_000, connectedAt: 1000, lastSeq: 42 });
  });

  it("closing an old stream does not disconnect a newer one (agent moved to another replica)", () => {
    const first = withStreamOpened(undefined, agent, { id: "s1", replica: "r1" }, 5, 1000);
    const second = withStreamOpened(first, agent, { id: "s2", replica: "r2" }, 5, 2000);
    expect(withStreamClosed(second, "s1", 3000)).toBeUndefined();
    const closed = withStreamClosed(second, "s2", 3000);
    expect(closed && agentView(closed, 3000)).toMatchObject({ connected: false, lastSeenAt: 3000 });
  });

  it("parses stored records and rejects junk", () => {
    const r = withStreamOpened(undefined, agent, { id: "s1", replica: "r1" }, 5, 1000);
    expect(parseAgentRecord(JSON.stringify(r))).toEqual(r);
    expect(parseAgentRecord("{}")).toBeUndefined();
    expect(parseAgentRecord("nope")).toBeUndefined();
  });

  it("the memory directory lists agents sorted by id", async () => {
    let t = 1000;
    const dir = createMemoryAgentDirectory({ now: () => t });
    await dir.streamOpened({ ...agent, id: "b" }, "s", 1);
    await dir.heartbeat({ ...agent, id: "a" }, stats);
    t = 2000;
    await dir.streamClosed("b", "s");
    expect((await dir.list()).map((a) => [a.id, a.connected])).toEqual([
      ["a", false],
      ["b", false],
    ]);
  });
});
