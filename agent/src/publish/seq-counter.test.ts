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

  it("never goes back after an OS crash (released mark lost), leaving at most one block of gap", () => {
    const dir = tempDir();
    const a = openSeqCounter({ dir, blockSize: 100, bootId: () => "boot-1" });
    let lastA = 0n;
    for (let i = 0; i < 250; i++) lastA = a.next();
    a.released(lastA);
    // OS crash: no close(), and the kernel that wrote the released mark is gone
    const b = openSeqCounter({ dir, blockSize: 100, bootId: () => "boot-2" });
    const firstB = b.next();
    expect(firstB).toBeGreaterThan(lastA);
    expect(firstB - lastA).toBeLessThanOrEqual(100n);
    // persisted once per block, not per number
    expect(readFileSync(join(dir, "seq"), "utf8").trim()).toBe("400");
  });

  it("continues without a gap after a process crash (kill -9): right after the last released number", () => {
    const dir = tempDir();
    const a = openSeqCounter({ dir, blockSize: 100, bootId: () => "boot-1" });
    for (let i = 0; i < 250; i++) a.next();
    a.released(247n); // 248..250 were still in memory: never seen by anyone
    // crash: no close()
    const b = openSeqCounter({ dir, blockSize: 100, bootId: () => "boot-1" });
    expect(b.last()).toBe(247n);
    expect(b.next()).toBe(248n);
    // the released mark is written in place, not fsynced: only a new high writes
    expect(readFileSync(join(dir, "seq.released"), "utf8")).toBe(`boot-1 ${"247".padStart(20, "0")}\n`);
  });

  it("never hands out a released number twice across crashes of either kind", () => {
    const dir = tempDir();
    const seen = new Set<bigint>();
    let boot = 1;
    for (let round = 0; round < 40; round++) {
      const c = openSeqCounter({ dir, blockSize: 7, bootId: () => `boot-${boot}` });
      const n = (round * 13) % 17;
      for (let i = 0; i < n; i++) {
        const v = c.next();
        // every third number stays in memory until the crash; the others are released
        if (i % 3 !== 2 || i < n - 1) {
          c.released(v);
          expect(seen.has(v), `seq ${v} released twice`).toBe(false);
          seen.add(v);
        }
      }
      if (round % 3 === 0) c.close();
      if (round % 5 === 4) boot++;
    }
  });

  it("ignores a released mark above the reservation or without a boot id", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "seq"), "10\n");
    writeFileSync(join(dir, "seq.released"), `boot-1 ${"50".padStart(20, "0")}\n`);
    expect(openSeqCounter({ dir, bootId: () => "boot-1" }).next()).toBe(11n);
    writeFileSync(join(dir, "seq"), "10\n");
    writeFileSync(join(dir, "seq.released"), `boot-1 ${"5".padStart(20, "0")}\n`);
    expect(openSeqCounter({ dir, bootId: () => undefined }).next()).toBe(11n);
  });

  it("stays monotonic over many restarts, crashes and clean stops mixed (every number released)", () => {
    const dir = tempDir();
    let prev = 0n;
    for (let round = 0; round < 30; round++) {
      const c = openSeqCounter({ dir, blockSize: 7, bootId: () => `boot-${round % 4 === 0 ? round : 1}` });
      for (let i = 0; i < (round * 13) % 17; i++) {
        const v = c.next();
        c.released(v);
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
