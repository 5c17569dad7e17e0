import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { HttpCheckSchema } from "@probemesh/proto";
import { describe, expect, it } from "vitest";
import { createUserRegexes } from "../shared/user-regexes.js";
import { checkAssertions, type ResponseView } from "./assertions.js";

const BACKTRACKING = String.raw`^(\w+\s?)+$`;

function judge(http: MessageInitShape<typeof HttpCheckSchema>, body: string, headers: ResponseView["headers"] = {}) {
  const bytes = Buffer.from(body);
  return checkAssertions(
    create(HttpCheckSchema, http),
    { headers, body: bytes, bodyBytes: bytes.length, truncated: false },
    createUserRegexes(),
  );
}

describe("checkAssertions with hostile patterns", () => {
  it("answers the issue's pattern on its 51-byte body: the body does not match", () => {
    expect(judge({ bodyRegex: [BACKTRACKING] }, "a".repeat(50) + "!")).toEqual({
      reason: "assertion:body_regex",
      message: String.raw`body does not match /^(\w+\s?)+$/`,
    });
    expect(judge({ bodyRegex: [BACKTRACKING] }, "all good here")).toBeUndefined();
  });

  it("answers pathological patterns on a 64 KiB body", () => {
    const body = "a".repeat(64 * 1024 - 1) + "!";
    expect(judge({ bodyRegex: [BACKTRACKING] }, body)?.reason).toBe("assertion:body_regex");
    expect(judge({ bodyNotRegex: ["(a|aa)+$", "(a+)+b"] }, body)).toBeUndefined();
    expect(judge({ bodyNotRegex: ["(.*a){20}"] }, body)?.reason).toBe("assertion:body_not_regex");
  });

  it("answers a backtracking header pattern on a long header value", () => {
    const headers = { "x-token": "a".repeat(4000) + "!" };
    expect(judge({ headerMatch: [{ name: "X-Token", regex: BACKTRACKING }] }, "", headers)?.reason).toBe(
      "assertion:header_match",
    );
  });

  it("honours inline flags, RE2 syntax JavaScript lacks", () => {
    expect(judge({ bodyRegex: ["(?i)^ok$"] }, "OK")).toBeUndefined();
    expect(judge({ bodyRegex: ["^ok$"] }, "OK")?.reason).toBe("assertion:body_regex");
  });

  it("fails a pattern RE2 cannot run as an invalid check, not as the service being down", () => {
    expect(judge({ bodyRegex: ["a(?=b)"] }, "ab")).toEqual({
      reason: "internal",
      message:
        'invalid check: bodyRegex "a(?=b)" is not a valid RE2 regular expression: lookahead ((?=…), (?!…)) is not supported',
    });
  });
});
