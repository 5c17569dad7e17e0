import { expect, it } from "vitest";
import { jsonEqual, jsonLookup } from "./json-path.js";
import { parseExpectStatus, statusAccepted } from "./status-match.js";

it("accepts numbers, classes and ranges; empty means 2xx", () => {
  const rules = (e: string[]) => {
    const r = parseExpectStatus(e);
    if (!r.ok) throw new Error(r.error);
    return r.ranges;
  };
  expect(statusAccepted(204, rules([]))).toBe(true);
  expect(statusAccepted(301, rules([]))).toBe(false);
  expect(statusAccepted(404, rules(["4XX"]))).toBe(true);
  expect(statusAccepted(418, rules(["200", "410-420"]))).toBe(true);
  expect(statusAccepted(421, rules(["200", "410-420"]))).toBe(false);
  expect(parseExpectStatus(["20"]).ok).toBe(false);
  expect(parseExpectStatus(["300-200"]).ok).toBe(false);
});

it("follows dotted JSON paths and compares structurally", () => {
  const doc = { a: { b: [1, { c: null }] } };
  expect(jsonLookup(doc, "a.b.1.c")).toEqual({ found: true, value: null });
  expect(jsonLookup(doc, "a.b.2")).toEqual({ found: false });
  expect(jsonLookup(doc, "a.x")).toEqual({ found: false });
  expect(jsonLookup(doc, "a.b.x")).toEqual({ found: false });
  expect(jsonEqual({ x: 1, y: [1, 2] }, { y: [1, 2], x: 1 })).toBe(true);
  expect(jsonEqual({ x: 1 }, { x: 1, y: 2 })).toBe(false);
  expect(jsonEqual([1], { 0: 1 })).toBe(false);
});
