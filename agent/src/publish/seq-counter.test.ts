import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSeqCounter, SeqStateError } from "./seq-counter.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "seq-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("seq counter", () => {
  it("starts at 1 and counts up", () => {
    const c = openSeqCounter({ dir: tempDir() });
    expect([c.next(), c.next(), c.next()]).toEqual([1n, 2n, 3n]);
    expect(c.last()).toBe(3n);
  });

  it("continues without a gap after a clean restart", () => {
    const dir = tempDir();
    const a = openSeqCounter({ dir, blockSize: 10 });
    for (let i = 0; i < 25; i++) a.next();
    a.close();
    const b = openSeqCounter({ dir, blockSize: 10 });
    expect(b.next()).toBe(26n);
  });

  it("never goes back after a crash (no close), leaving at most one block of gap", () => {
    const dir = tempDir();
    const a = openSeqCounter({ dir, blockSize: 100 });
    let lastA = 0n;
    for (let i = 0; i < 250; i++) lastA = a.next();
    // crash: no close()
    const b = openSeqCounter({ dir, blockSize: 100 });
    const firstB = b.next();
    expect(firstB).toBeGreaterThan(lastA);
    expect(firstB - lastA).toBeLessThanOrEqual(100n);
    // persisted once per block, not per number
    expect(readFileSync(join(dir, "seq"), "utf8").trim()).toBe("400");
  });

  it("stays monotonic over many restarts, crashes and clean stops mixed", () => {
    const dir = tempDir();
    let prev = 0n;
    for (let round = 0; round < 30; round++) {
      const c = openSeqCounter({ dir, blockSize: 7 });
      for (let i = 0; i < (round * 13) % 17; i++) {
        const v = c.next();
        expect(v).toBeGreaterThan(prev);
        prev = v;
      }
      if (round % 3 === 0) c.close();
    }
  });

  it("refuses a corrupt high-water mark rather than reusing numbers", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "seq"), "garbage");
    expect(() => openSeqCounter({ dir })).toThrow(SeqStateError);
  });
});
