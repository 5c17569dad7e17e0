import { describe, expect, it } from "vitest";
import { parseResultSubject, partitionOf, partitionResultsFilter, resultSubject } from "./subjects.js";

describe("result subjects and partitions", () => {
  it("partitionOf is FNV-1a of the uid, stable and in range", () => {
    // Known FNV-1a 32-bit values: "" -> 0x811c9dc5, "a" -> 0xe40c292c.
    expect(partitionOf("", 1000)).toBe(0x811c9dc5 % 1000);
    expect(partitionOf("a", 1000)).toBe(0xe40c292c % 1000);
    expect(partitionOf("a", 1024)).toBe(0xe40c292c % 1024);
    const uid = "6f1c1f0e-3b1a-4c55-9d0e-2a7f3e1b9c10";
    expect(partitionOf(uid, 16)).toBe(partitionOf(uid, 16));
    for (let i = 0; i < 200; i++) {
      const p = partitionOf(`uid-${i}`, 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
    }
    expect(() => partitionOf(uid, 0)).toThrow(/partitions/);
    expect(() => partitionOf(uid, 1025)).toThrow(/partitions/);
  });

  it("spreads uids over the partitions", () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[partitionOf(crypto.randomUUID(), 8)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  it("builds and parses both subject forms", () => {
    expect(resultSubject("eu-west", "a1")).toBe("probemesh.results.eu-west.a1");
    expect(resultSubject("eu-west", "a1", 3)).toBe("probemesh.results.eu-west.a1.3");
    expect(parseResultSubject("probemesh.results.eu-west.a1")).toEqual({
      region: "eu-west",
      agentId: "a1",
      partition: undefined,
    });
    expect(parseResultSubject("probemesh.results.eu-west.a1.3")).toEqual({
      region: "eu-west",
      agentId: "a1",
      partition: 3,
    });
    for (const bad of [
      "probemesh.results.eu",
      "probemesh.results.eu.a.03",
      "probemesh.results.eu.a.x",
      "other.results.eu.a",
      "probemesh.results.eu.a.1.2",
      "probemesh.results.eu.a.1024",
    ])
      expect(parseResultSubject(bad)).toBeUndefined();
    expect(partitionResultsFilter(5)).toBe("probemesh.results.*.*.5");
    expect(() => resultSubject("eu", "a", -1)).toThrow(/partition/);
  });
});
