import { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { fieldPathOf, knownKeysAt, parseOrThrow, zodProblems } from "./issues.js";

const schema = z.strictObject({
  name: z.string({ error: "must be a string" }),
  intervalMs: z.number().optional(),
  http: z
    .strictObject({
      url: z.string({ error: "is required" }),
      headerMatch: z.array(z.strictObject({ name: z.string(), negate: z.boolean().optional() })).optional(),
    })
    .nullish()
    .transform((v) => v ?? undefined),
});

const problemsOf = (input: unknown) => {
  const parsed = schema.safeParse(input);
  if (parsed.success) throw new Error("expected a failure");
  return zodProblems(parsed.error, schema);
};

describe("fieldPathOf", () => {
  it("joins keys with dots and indices in brackets", () => {
    expect(fieldPathOf(["http", "headerMatch", 0, "name"])).toBe("http.headerMatch[0].name");
    expect(fieldPathOf([])).toBe("");
  });
});

describe("knownKeysAt", () => {
  it("walks through wrappers, transforms and arrays", () => {
    expect(knownKeysAt(schema, [])).toEqual(["name", "intervalMs", "http"]);
    expect(knownKeysAt(schema, ["http"])).toEqual(["url", "headerMatch"]);
    expect(knownKeysAt(schema, ["http", "headerMatch", 3])).toEqual(["name", "negate"]);
    expect(knownKeysAt(schema, ["name"])).toEqual([]);
  });
});

describe("zodProblems", () => {
  it("hints the camelCase form of a snake_case key its object knows, at any depth", () => {
    expect(problemsOf({ name: "a", interval_ms: 1, http: { url: "u", header_match: [], colour: 1 } })).toEqual([
      { field: "interval_ms", message: 'unknown field (did you mean "intervalMs"?)' },
      { field: "http.header_match", message: 'unknown field (did you mean "headerMatch"?)' },
      { field: "http.colour", message: "unknown field" },
    ]);
    expect(problemsOf({ name: "a", http: { url: "u", headerMatch: [{ name: "x", neg_ate: true }] } })).toEqual([
      { field: "http.headerMatch[0].neg_ate", message: "unknown field" },
    ]);
  });

  it("lists problems in the schema's field order, unknown keys first", () => {
    expect(problemsOf({ http: {}, zzz: 1, name: 5 }).map((p) => p.field)).toEqual(["zzz", "name", "http.url"]);
  });

  it("keeps one problem per field and hides problems inside a field that has one", () => {
    const s = z.strictObject({
      a: z.string().min(3, "too short").regex(/^x/, "must start with x"),
      o: z
        .strictObject({ b: z.string() })
        .superRefine((_v, ctx) => ctx.addIssue({ code: "custom", message: "o is bad" }), {
          when: () => true,
        }),
    });
    const parsed = s.safeParse({ a: "y", o: { b: 1 } });
    expect(parsed.success).toBe(false);
    if (!parsed.success)
      expect(zodProblems(parsed.error, s)).toEqual([
        { field: "a", message: "too short" },
        { field: "o", message: "o is bad" },
      ]);
  });

  it("names the whole input `body` and accepts a lookup of known keys instead of the schema", () => {
    const parsed = schema.safeParse({ name: "a", interval_ms: 1 });
    if (parsed.success) throw new Error("expected a failure");
    expect(zodProblems(parsed.error, () => ["intervalMs"])[0]?.message).toBe(
      'unknown field (did you mean "intervalMs"?)',
    );
    const notObject = schema.safeParse(5);
    if (notObject.success) throw new Error("expected a failure");
    expect(zodProblems(notObject.error)[0]?.field).toBe("body");
  });
});

describe("parseOrThrow", () => {
  it("returns the output, or throws one ValidationError listing every problem", () => {
    expect(parseOrThrow(schema, { name: "a" }, "thing")).toEqual({ name: "a" });
    try {
      parseOrThrow(schema, { name: 1, http: {} }, "thing");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const e = err as ValidationError;
      expect(e.message).toBe("invalid thing: name: must be a string (and 1 more problem)");
      expect(e.details).toEqual({
        field: "name",
        problems: [
          { field: "name", message: "must be a string" },
          { field: "http.url", message: "is required" },
        ],
      });
    }
  });
});
