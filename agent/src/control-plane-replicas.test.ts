import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createControlPlaneReplicas, isReplicaFailure, startingReplica } from "./control-plane-replicas.js";

const silent = pino({ level: "silent" });

describe("startingReplica", () => {
  it("is FNV-1a of the agent id: the same id starts at the same replica in every process", () => {
    // Reference vectors of 32-bit FNV-1a; a modulus of 2^32 exposes the hash itself.
    expect(startingReplica("a", 2 ** 32)).toBe(0xe40c292c);
    expect(startingReplica("foobar", 2 ** 32)).toBe(0xbf9cf968);
    expect(startingReplica("agent-eu-west", 3)).toBe(startingReplica("agent-eu-west", 3));
    expect(startingReplica("anything", 1)).toBe(0);
  });

  it("spreads a fleet's ids evenly over the replicas", () => {
    for (const count of [2, 3, 5]) {
      const per = new Array<number>(count).fill(0);
      for (let i = 0; i < 3000; i++) per[startingReplica(`probe-${i}.example`, count)]!++;
      for (const n of per) expect(Math.abs(n - 3000 / count)).toBeLessThan((3000 / count) * 0.1);
    }
  });
});

describe("createControlPlaneReplicas", () => {
  const addrs = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"];

  it("moves along the list, wrapping around, and ignores a failure of a replica it already left", () => {
    const replicas = createControlPlaneReplicas({ addrs, agentId: "agent-x", log: silent });
    const start = startingReplica("agent-x", 3);
    expect(replicas.current()).toBe(addrs[start]);
    const moves: string[] = [];
    replicas.onMove(({ from, to, reason }) => moves.push(`${from}->${to}: ${reason}`));
    const first = replicas.current();
    expect(replicas.moveOn(first, "stream ended")).toBe(true);
    expect(replicas.current()).toBe(addrs[(start + 1) % 3]);
    // A late heartbeat failure of the replica it left does not skip the next one.
    expect(replicas.moveOn(first, "heartbeat failed")).toBe(false);
    expect(replicas.moveOn(replicas.current(), "x")).toBe(true);
    expect(replicas.moveOn(replicas.current(), "y")).toBe(true);
    expect(replicas.current()).toBe(first);
    expect(moves).toEqual([
      `${first}->${addrs[(start + 1) % 3]}: stream ended`,
      `${addrs[(start + 1) % 3]}->${addrs[(start + 2) % 3]}: x`,
      `${addrs[(start + 2) % 3]}->${first}: y`,
    ]);
    replicas.close();
  });

  it("never moves with a single address, and gives one client per address", () => {
    const one = createControlPlaneReplicas({ addrs: ["127.0.0.1:7001"], agentId: "a", log: silent });
    expect(one.moveOn("127.0.0.1:7001", "down")).toBe(false);
    expect(one.client()).toBe(one.client());
    one.close();
    const many = createControlPlaneReplicas({ addrs, agentId: "a", log: silent });
    const c1 = many.client();
    many.moveOn(many.current(), "down");
    expect(many.client()).not.toBe(c1);
    many.close();
    expect(() => createControlPlaneReplicas({ addrs: [], agentId: "a", log: silent })).toThrow(RangeError);
  });

  it("counts only UNAVAILABLE and DEADLINE_EXCEEDED of a unary call as the replica failing", () => {
    expect([14, 4].map(isReplicaFailure)).toEqual([true, true]);
    expect([0, 1, 7, 9, 16, 12, undefined].map(isReplicaFailure)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
