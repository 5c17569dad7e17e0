import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { MAX_STRING_LITERAL, Sql, SqlValueError, ident, inList, int, joinSql, literal, sql } from "./sql.js";

describe("literal", () => {
  it("quotes strings and escapes quotes and backslashes", () => {
    expect(literal("plain")).toBe("'plain'");
    expect(literal("it's")).toBe("'it\\'s'");
    expect(literal("back\\slash")).toBe("'back\\\\slash'");
    expect(literal("")).toBe("''");
  });

  it("keeps hostile strings inside one literal", () => {
    const hostile = [
      "'; DROP TABLE results; --",
      "\\'; DROP TABLE results; --",
      "x\\",
      "\\",
      "'",
      "''",
      "a' OR '1'='1",
      "\u0000'--",
      "line\nbreak\r\ttab",
      "emoji 🚀 and ümlaut",
      '`backtick` "double"',
      "/* comment */ -- comment",
    ];
    for (const s of hostile) {
      const lit = literal(s);
      // Read the literal back the way ClickHouse does; it must end exactly at the closing quote.
      expect(lit.startsWith("'") && lit.endsWith("'")).toBe(true);
      let i = 1;
      let decoded = "";
      for (; i < lit.length - 1; i++) {
        const ch = lit[i]!;
        if (ch === "'") throw new Error(`unescaped quote inside ${lit}`);
        if (ch === "\\") {
          const next = lit[i + 1]!;
          if (next === "x") {
            decoded += String.fromCharCode(parseInt(lit.slice(i + 2, i + 4), 16));
            i += 3;
          } else {
            decoded += next;
            i += 1;
          }
        } else {
          decoded += ch;
        }
      }
      expect(i).toBe(lit.length - 1);
      expect(decoded).toBe(s);
    }
  });

  it("writes control characters as \\xHH so the SQL stays on one line", () => {
    expect(literal("a\nb\u0000c\u007f")).toBe("'a\\x0ab\\x00c\\x7f'");
  });

  it("accepts finite numbers, safe integers, in-range bigints and booleans", () => {
    expect(literal(42)).toBe("42");
    expect(literal(-7)).toBe("-7");
    expect(literal(1.5)).toBe("1.5");
    expect(literal(1e-7)).toBe("1e-7");
    expect(literal(2n ** 64n - 1n)).toBe("18446744073709551615");
    expect(literal(-(2n ** 63n))).toBe("-9223372036854775808");
    expect(literal(true)).toBe("1");
    expect(literal(false)).toBe("0");
  });

  it("rejects values that cannot be inlined safely", () => {
    for (const bad of [
      NaN,
      Infinity,
      -Infinity,
      2 ** 53,
      2n ** 64n,
      -(2n ** 63n) - 1n,
      null,
      undefined,
      {},
      [],
      Symbol("x"),
    ]) {
      expect(() => literal(bad as never)).toThrow(SqlValueError);
    }
    expect(() => literal("x".repeat(MAX_STRING_LITERAL + 1))).toThrow(/longer than/);
  });

  it("errors are ValidationErrors naming the field", () => {
    try {
      literal(NaN, "from");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).details).toEqual({ field: "from" });
      expect((err as Error).message).toContain("from");
    }
  });
});

describe("int", () => {
  it("range-checks against the ClickHouse type", () => {
    expect(int(0, "UInt64").text).toBe("0");
    expect(int(1_700_000_000_000, "UInt64").text).toBe("1700000000000");
    expect(int(255, "UInt8").text).toBe("255");
    expect(() => int(256, "UInt8")).toThrow(/outside UInt8/);
    expect(() => int(-1, "UInt64")).toThrow(/outside UInt64/);
    expect(() => int(1.5, "UInt32")).toThrow(/integer/);
    expect(() => int(NaN, "UInt32")).toThrow(SqlValueError);
    expect(() => int("5" as never, "UInt32")).toThrow(SqlValueError);
  });
});

describe("ident", () => {
  it("accepts plain identifiers and dotted parts", () => {
    expect(ident("results").text).toBe("results");
    expect(ident("probemesh_test", "results").text).toBe("probemesh_test.results");
  });

  it("rejects anything that could escape an identifier", () => {
    for (const bad of ["", "1abc", "a-b", "a b", "a.b", "a;b", "a`b", "`x`", "x'--", "é", "a".repeat(129)]) {
      expect(() => ident(bad)).toThrow(SqlValueError);
    }
    expect(() => ident()).toThrow(SqlValueError);
  });
});

describe("sql template", () => {
  it("inlines every value through the escaping helper", () => {
    const q = sql`SELECT * FROM ${ident("results")} WHERE check_id = ${"a'b"} AND started_at >= ${int(5, "UInt64")} AND x = ${1.25} AND ok = ${true}`;
    expect(q).toBeInstanceOf(Sql);
    expect(q.text).toBe("SELECT * FROM results WHERE check_id = 'a\\'b' AND started_at >= 5 AND x = 1.25 AND ok = 1");
  });

  it("renders arrays as ClickHouse array literals and nests fragments", () => {
    const cond = sql`region = ${"eu"}`;
    expect(sql`SELECT has(${["a", "b'"]}, x) WHERE ${cond}`.text).toBe(
      "SELECT has(['a', 'b\\''], x) WHERE region = 'eu'",
    );
  });

  it("throws on a bad value instead of building a query", () => {
    expect(() => sql`SELECT ${NaN}`).toThrow(SqlValueError);
    expect(() => sql`SELECT ${{ toString: () => "1; DROP TABLE x" } as never}`).toThrow(SqlValueError);
    expect(() => sql`SELECT ${undefined as never}`).toThrow(SqlValueError);
  });
});

describe("joinSql and inList", () => {
  it("joins fragments with a fixed separator", () => {
    expect(joinSql([sql`a = ${1}`, sql`b = ${"x"}`], " AND ").text).toBe("a = 1 AND b = 'x'");
    expect(() => joinSql([sql`a`], "; DROP" as never)).toThrow(SqlValueError);
    expect(() => joinSql(["a = 1" as never])).toThrow(SqlValueError);
  });

  it("builds non-empty IN lists", () => {
    expect(inList(["eu", "us'"]).text).toBe("('eu', 'us\\'')");
    expect(() => inList([])).toThrow(/empty/);
  });
});
