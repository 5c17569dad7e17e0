import type { HttpCheck } from "@probemesh/proto";
import type { IncomingHttpHeaders } from "node:http";
import type { Failure } from "../shared/outcome.js";
import { isRegexFailure, type UserRegexes } from "../shared/user-regexes.js";
import { jsonEqual, jsonLookup } from "./json-path.js";

/** What the assertions look at of one final response. */
export interface ResponseView {
  headers: IncomingHttpHeaders;
  /** Body prefix read (undefined when no assertion needed it). */
  body: Buffer | undefined;
  bodyBytes: number;
  /** True when reading stopped at the cap, so body assertions judged a prefix. */
  truncated: boolean;
}

/** True when some assertion needs the body's bytes (otherwise they are counted, not kept). */
export function needsBody(http: HttpCheck): boolean {
  return (
    http.bodyContains !== "" || http.bodyRegex.length > 0 || http.bodyNotRegex.length > 0 || http.jsonPath.length > 0
  );
}

function headerText(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(", ") : String(v);
}

const cut = (s: string, n = 60) => (s.length > n ? `${s.slice(0, n)}…` : s);

/**
 * Runs header, body and JSON assertions in a fixed order and returns the first failure. Messages
 * name the assertion and pattern; they never quote the check's own request headers or body.
 * Regexes are RE2 (`@probemesh/proto/regex`), compiled once per check version by `regexes`.
 */
export function checkAssertions(http: HttpCheck, res: ResponseView, regexes: UserRegexes): Failure | undefined {
  for (const hm of http.headerMatch) {
    const re = regexes.get(http, hm.regex, `headerMatch regex for ${cut(hm.name)}`);
    if (isRegexFailure(re)) return re;
    const value = headerText(res.headers, hm.name);
    const matched = value !== undefined && re.test(value);
    if (!hm.negate && !matched) {
      return {
        reason: "assertion:header_match",
        message:
          value === undefined
            ? `header ${cut(hm.name)} is missing`
            : `header ${cut(hm.name)} does not match /${cut(hm.regex)}/`,
      };
    }
    if (hm.negate && matched)
      return {
        reason: "assertion:header_match",
        message: `header ${cut(hm.name)} matches /${cut(hm.regex)}/ but must not`,
      };
  }
  if (!needsBody(http)) return undefined;
  const text = (res.body ?? Buffer.alloc(0)).toString("utf8");
  const prefix = res.truncated ? ` (judged on the first ${res.bodyBytes} bytes)` : "";
  if (http.bodyContains !== "" && !text.includes(http.bodyContains)) {
    return {
      reason: "assertion:body_contains",
      message: `body does not contain ${JSON.stringify(cut(http.bodyContains))}${prefix}`,
    };
  }
  for (const pattern of http.bodyRegex) {
    const re = regexes.get(http, pattern, "bodyRegex");
    if (isRegexFailure(re)) return re;
    if (!re.test(text))
      return { reason: "assertion:body_regex", message: `body does not match /${cut(pattern)}/${prefix}` };
  }
  for (const pattern of http.bodyNotRegex) {
    const re = regexes.get(http, pattern, "bodyNotRegex");
    if (isRegexFailure(re)) return re;
    if (re.test(text))
      return { reason: "assertion:body_not_regex", message: `body matches /${cut(pattern)}/ but must not${prefix}` };
  }
  if (http.jsonPath.length > 0) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return { reason: "assertion:json_path", message: `body is not valid JSON${prefix}` };
    }
    for (const jp of http.jsonPath) {
      const hit = jsonLookup(doc, jp.path);
      if (!hit.found) return { reason: "assertion:json_path", message: `JSON path ${cut(jp.path)} does not exist` };
      if (jp.equals === "") continue;
      let expected: unknown;
      try {
        expected = JSON.parse(jp.equals);
      } catch {
        // Not JSON: users write `ok` for the string "ok"; compare as text rather than fail the check.
        expected = jp.equals;
      }
      if (!jsonEqual(hit.value, expected)) {
        const got = JSON.stringify(hit.value) ?? "undefined";
        return {
          reason: "assertion:json_path",
          message: `JSON path ${cut(jp.path)} is ${cut(got, 40)}, expected ${cut(jp.equals, 40)}`,
        };
      }
    }
  }
  return undefined;
}
