import { describe, expect, it } from "vitest";
import { parseJsonPath } from "./json-path.js";

describe("parseJsonPath", () => {
  it.each([
    ["", []],
    ["$", []],
    ["status", ["status"]],
    ["$.status", ["status"]],
    ["items.0.name", ["items", "0", "name"]],
    ["$.items[0].name", ["items", 0, "name"]],
    ["items[2][1]", ["items", 2, 1]],
    ['$["a.b"].c', ["a.b", "c"]],
    ['["x"]', ["x"]],
  ])("reads %j", (path, segments) => {
    expect(parseJsonPath(path)).toEqual({ segments });
  });

  it.each(["a..b", "a.", "$.", "a[", "a[x]", "a[-1]", "a]b", '$["unterminated]', "$a"])("refuses %j", (path) => {
    expect(parseJsonPath(path)).toHaveProperty("problem");
  });
});
