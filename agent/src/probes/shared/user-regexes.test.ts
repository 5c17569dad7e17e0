import { describe, expect, it } from "vitest";
import { createUserRegexes, isRegexFailure } from "./user-regexes.js";

describe("createUserRegexes", () => {
  it("compiles a pattern once per owner (check version) and afresh for a new owner", () => {
    const regexes = createUserRegexes();
    const v1 = {};
    const a = regexes.get(v1, "^ok$", "bodyRegex");
    expect(regexes.get(v1, "^ok$", "bodyRegex")).toBe(a);
    const v2 = {};
    const b = regexes.get(v2, "^ok$", "bodyRegex");
    expect(b).not.toBe(a);
    expect(isRegexFailure(b) ? undefined : b.test("ok")).toBe(true);
  });

  it("answers an invalid pattern as an invalid-check failure naming the field and the reason", () => {
    const regexes = createUserRegexes();
    const r = regexes.get({}, String.raw`(a)\1`, "bodyRegex");
    expect(r).toEqual({
      reason: "internal",
      message: String.raw`invalid check: bodyRegex "(a)\\1" is not a valid RE2 regular expression: backreferences (\1, \k<name>) are not supported`,
    });
  });

  it("keeps a failure message bounded whatever the pattern's length", () => {
    const r = createUserRegexes().get({}, `[${"x".repeat(1000)}`, "bodyNotRegex");
    expect(isRegexFailure(r) && r.message.length).toBeLessThan(300);
  });
});
