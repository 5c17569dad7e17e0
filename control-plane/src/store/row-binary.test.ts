import { describe, expect, it } from "vitest";
import { RowBinaryWriter } from "./row-binary.js";

const hex = (w: RowBinaryWriter): string => w.bytes().toString("hex");

describe("RowBinaryWriter", () => {
  it("writes strings as a LEB128 byte length then UTF-8, on both sides of each length boundary", () => {
    for (const [value, prefix] of [
      ["", "00"],
      ["a", "01"],
      ["x".repeat(127), "7f"],
      ["x".repeat(128), "8001"],
      ["中".repeat(42), "7e"], // 126 bytes, written in place
      ["中".repeat(43), "8101"], // 129 bytes
      ["z".repeat(16_383), "ff7f"],
      ["z".repeat(16_384), "808001"],
    ] as const) {
      const w = new RowBinaryWriter(1);
      w.string(value);
      expect(hex(w)).toBe(prefix + Buffer.from(value, "utf8").toString("hex"));
    }
  });

  it("writes little-endian numbers, UInt64 beyond 2^32 exact and -0 as 0", () => {
    const w = new RowBinaryWriter(2);
    w.uint8(255);
    w.uint32(4_294_967_295);
    w.uint64(Number.MAX_SAFE_INTEGER);
    w.uint64(2 ** 32 + 5);
    w.float64(-0);
    w.float64(1.5);
    expect(hex(w)).toBe(
      "ff" + "ffffffff" + "ffffffffffff1f00" + "0500000001000000" + "0000000000000000" + "000000000000f83f",
    );
  });

  it("grows past its initial capacity without losing what it wrote", () => {
    const w = new RowBinaryWriter(4);
    const parts = Array.from({ length: 500 }, (_, i) => `part-${i}-🚀`);
    for (const p of parts) w.string(p);
    const expected = Buffer.concat(
      parts.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)])),
    );
    expect(w.bytes().equals(expected)).toBe(true);
  });
});
