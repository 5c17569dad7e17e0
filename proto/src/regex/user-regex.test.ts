import { describe, expect, it } from "vitest";
import {
  compileUserRegex,
  MAX_USER_REGEX_LENGTH,
  MAX_USER_REGEX_PROGRAM_SIZE,
  userRegexProblem,
  type UserRegex,
} from "./index.js";

function compiled(pattern: string): UserRegex {
  const r = compileUserRegex(pattern);
  if (!r.ok) throw new Error(`${pattern} ${r.error}`);
  return r.regex;
}

describe("compileUserRegex", () => {
  it("matches unanchored, case-sensitive, as RegExp without flags does", () => {
    const re = compiled(String.raw`"status":\s*"ok"`);
    expect(re.source).toBe(String.raw`"status":\s*"ok"`);
    expect(re.test('{"status": "ok","n":1}')).toBe(true);
    expect(re.test('{"status": "OK"}')).toBe(false);
    expect(compiled("").test("anything")).toBe(true);
  });

  it("answers the issue's backtracking pattern on a 51-byte body", () => {
    const re = compiled(String.raw`^(\w+\s?)+$`);
    expect(re.test("a".repeat(50) + "!")).toBe(false);
    expect(re.test("a".repeat(50))).toBe(true);
    expect(re.test("hello world again")).toBe(true);
  });

  it("answers pathological patterns on a 64 KiB body", () => {
    const body = "a".repeat(64 * 1024 - 1) + "!";
    expect(compiled(String.raw`^(\w+\s?)+$`).test(body)).toBe(false);
    expect(compiled("(a+)+$").test(body)).toBe(false);
    expect(compiled("(a|aa)+b").test(body)).toBe(false);
    expect(compiled("(.*a){12}").test(body)).toBe(true);
    expect(compiled("(x+x+)+y").test("x".repeat(64 * 1024))).toBe(false);
  });

  it("honours inline flags and only them", () => {
    expect(compiled("(?i)error").test("FATAL ERROR")).toBe(true);
    expect(compiled("error").test("FATAL ERROR")).toBe(false);
    expect(compiled("^b$").test("a\nb\nc")).toBe(false);
    expect(compiled("(?m)^b$").test("a\nb\nc")).toBe(true);
    expect(compiled("a.b").test("a\nb")).toBe(false);
    expect(compiled("(?s)a.b").test("a\nb")).toBe(true);
  });

  it("keeps RE2's ASCII classes (documented differences from RegExp)", () => {
    expect(compiled(String.raw`^\d$`).test("٣")).toBe(false);
    expect(compiled(String.raw`\s`).test("\u00a0")).toBe(false);
    expect(compiled(String.raw`\pL`).test("é")).toBe(true);
    expect(compiled("^.$").test("😀")).toBe(true);
  });

  it.each([
    [String.raw`(a)\1`, "backreferences (\\1, \\k<name>) are not supported"],
    [String.raw`(?<n>a)\k<n>`, "backreferences (\\1, \\k<name>) are not supported"],
    ["a(?=b)", "lookahead ((?=…), (?!…)) is not supported"],
    ["a(?!b)", "lookahead ((?=…), (?!…)) is not supported"],
    ["(?<=a)b", "lookbehind ((?<=…), (?<!…)) is not supported"],
    ["(?<!a)b", "lookbehind ((?<=…), (?<!…)) is not supported"],
    ["(?>a+)b", "atomic groups ((?>…)) are not supported"],
    ["a++", "possessive quantifiers (a++, a*+) are not supported"],
    ["a{2}+", "possessive quantifiers (a++, a*+) are not supported"],
    [String.raw`caf\u00e9`, "\\u escapes are not supported, write \\x{hhhh}"],
    ["[", "missing closing ]: `[`"],
    [String.raw`end\Z`, "invalid escape sequence: `\\Z`"],
  ])("rejects %s, saying why", (pattern, reason) => {
    expect(userRegexProblem(pattern)).toBe(`is not a valid RE2 regular expression: ${reason}`);
  });

  it("does not mistake escaped or bracketed look-alikes for unsupported features", () => {
    expect(userRegexProblem(String.raw`\(?=x`)).toBeUndefined();
    expect(userRegexProblem("[(?=]x")).toBeUndefined();
    expect(userRegexProblem(String.raw`\\1`)).toBeUndefined();
    expect(userRegexProblem(String.raw`\Q(?=\E`)).toBeUndefined();
    expect(userRegexProblem(String.raw`(?P<v>\d+)\.(?<w>\d+)`)).toBeUndefined();
    expect(userRegexProblem(String.raw`\x{e9}`)).toBeUndefined();
  });

  it("caps the pattern's length and its compiled size", () => {
    expect(userRegexProblem("(?:)".repeat(MAX_USER_REGEX_LENGTH / 4))).toBeUndefined();
    expect(userRegexProblem("(?:)".repeat(MAX_USER_REGEX_LENGTH / 4) + "a")).toBe(
      `is longer than ${MAX_USER_REGEX_LENGTH} characters`,
    );
    expect(userRegexProblem(String.raw`[0-9a-f]{64}`)).toBeUndefined();
    expect(userRegexProblem(String.raw`\w{1000}`)).toMatch(
      new RegExp(`^compiles to \\d+ RE2 instructions, more than the ${MAX_USER_REGEX_PROGRAM_SIZE} allowed`),
    );
  });
});
