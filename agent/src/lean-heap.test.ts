import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { LEAN_HEAP_FLAGS, leanHeapFlags } from "./lean-heap.js";

const both = [LEAN_HEAP_FLAGS.youngGeneration, LEAN_HEAP_FLAGS.oldGeneration];

// A child process that sets `flags` at run time (as main.ts does), then allocates the way a busy
// agent does (short-lived garbage beside survivors) and prints its young generation's size in MiB.
function youngGenerationMiB(flags: string[]): number {
  const script = `
    const v8 = require("node:v8");
    for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f);
    let keep = [];
    for (let i = 0; i < 1_500_000; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 20_000) keep = []; }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === "new_space");
    process.stdout.write(String(s.space_size / 1048576));`;
  return Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20_000 }));
}

describe("lean heap flags", () => {
  it("applies both flags when the operator set neither", () => {
    expect(leanHeapFlags([])).toEqual(both);
    expect(leanHeapFlags(["--enable-source-maps", "--max-old-space-size=256"])).toEqual(both);
  });

  it("leaves a generation the operator sized with node flags or NODE_OPTIONS alone", () => {
    expect(leanHeapFlags(["--max-semi-space-size=8"])).toEqual([LEAN_HEAP_FLAGS.oldGeneration]);
    expect(leanHeapFlags(["--min_semi_space_size=2"])).toEqual([LEAN_HEAP_FLAGS.oldGeneration]);
    expect(leanHeapFlags(["--semi-space-growth-factor=2"])).toEqual([LEAN_HEAP_FLAGS.oldGeneration]);
    expect(leanHeapFlags(["--heap-growing-percent=100"])).toEqual([LEAN_HEAP_FLAGS.youngGeneration]);
    expect(leanHeapFlags(["--max-semi-space-size=4", "--heap_growing_percent=50"])).toEqual([]);
  });

  it("takes effect on this Node when set after start: the young generation stays at 2 MiB", () => {
    expect(youngGenerationMiB([])).toBeGreaterThan(2);
    expect(youngGenerationMiB(both)).toBeLessThanOrEqual(2);
  });
});
