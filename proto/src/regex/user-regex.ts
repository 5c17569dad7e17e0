import { RE2JS, RE2JSException } from "re2js";

/**
 * Longest pattern accepted, in UTF-16 code units: a check's pattern is configuration, not data.
 * @default 1024
 */
export const MAX_USER_REGEX_LENGTH = 1024;

/**
 * Largest compiled program accepted (RE2 instructions, about one per literal character or class,
 * `x{n}` counting n times). Matching costs at worst program size × text length, so this bounds
 * one evaluation (agent/PROBES.md, "User regular expressions", has the figures); the patterns
 * users write for health checks compile to 10–100.
 * @default 500
 */
export const MAX_USER_REGEX_PROGRAM_SIZE = 500;

/** A compiled user regex; matching takes time linear in the text, whatever the pattern. */
export interface UserRegex {
  /** The pattern as the user wrote it. */
  readonly source: string;
  /** True when the pattern matches somewhere in `text` (unanchored, as RegExp.prototype.test). */
  test(text: string): boolean;
}

/** Outcome of compiling a user regex: the regex, or why it cannot run (a sentence fragment). */
export type UserRegexResult = { ok: true; regex: UserRegex } | { ok: false; error: string };

const PREFIX = "is not a valid RE2 regular expression: ";

/**
 * Compiles a pattern written by a user (a check's bodyRegex, bodyNotRegex, headerMatch regex or
 * DNS answerRegex) for the RE2 engine: no flags, so matching is case-sensitive, `^`/`$` anchor the
 * whole text and `.` stops at `\n`, unless the pattern sets `(?i)`, `(?m)` or `(?s)` itself.
 * The error reads after the field's name: `bodyRegex "(a)\1" is not a valid RE2 regular
 * expression: backreferences (\1, \k<name>) are not supported`.
 */
export function compileUserRegex(pattern: string): UserRegexResult {
  if (pattern.length > MAX_USER_REGEX_LENGTH)
    return { ok: false, error: `is longer than ${MAX_USER_REGEX_LENGTH} characters` };
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    return { ok: false, error: PREFIX + (unsupportedFeature(pattern) ?? engineReason(err)) };
  }
  const size = re.programSize();
  if (size > MAX_USER_REGEX_PROGRAM_SIZE)
    return {
      ok: false,
      error: `compiles to ${size} RE2 instructions, more than the ${MAX_USER_REGEX_PROGRAM_SIZE} allowed (large {n} repetition counts cost the most)`,
    };
  return { ok: true, regex: { source: pattern, test: (text) => re.test(text) } };
}

/**
 * Why a pattern cannot be a check's regex, or undefined when it can: the control plane's
 * validation, with the same engine and limits the agent runs.
 */
export function userRegexProblem(pattern: string): string | undefined {
  const r = compileUserRegex(pattern);
  return r.ok ? undefined : r.error;
}

/** The engine's own words without its "error parsing regexp: " preamble. */
function engineReason(err: RE2JSException): string {
  return err.message.replace(/^error parsing regexp: /, "");
}

/**
 * Names the JavaScript (PCRE) feature that RE2 leaves out on purpose, so the user learns what to
 * change rather than reading "invalid escape sequence". Only consulted once the engine has
 * rejected the pattern, so a rough scan cannot reject a valid one.
 */
function unsupportedFeature(p: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") {
      const next = p[i + 1] ?? "";
      if (!inClass && next >= "1" && next <= "9") return "backreferences (\\1, \\k<name>) are not supported";
      if (next === "k" && p[i + 2] === "<") return "backreferences (\\1, \\k<name>) are not supported";
      if (next === "u") return "\\u escapes are not supported, write \\x{hhhh}";
      if (next === "Q") {
        const end = p.indexOf("\\E", i + 2);
        i = end < 0 ? p.length : end + 1;
        continue;
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (p[i + 1] === "^") i++;
      if (p[i + 1] === "]") i++;
      continue;
    }
    if (c === "(" && p[i + 1] === "?") {
      const kind = p.slice(i + 2, i + 4);
      if (kind.startsWith("=") || kind.startsWith("!")) return "lookahead ((?=…), (?!…)) is not supported";
      if (kind === "<=" || kind === "<!") return "lookbehind ((?<=…), (?<!…)) is not supported";
      if (kind.startsWith(">")) return "atomic groups ((?>…)) are not supported";
      i++;
      continue;
    }
    if ((c === "+" || c === "*" || c === "?" || c === "}") && p[i + 1] === "+")
      return "possessive quantifiers (a++, a*+) are not supported";
  }
  return undefined;
}
