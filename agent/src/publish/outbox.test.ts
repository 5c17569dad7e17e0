import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openOutbox, type Outbox, type OutboxOptions } from "./outbox.js";

const log = pino({ level: "silent" });
const dirs: string[] = [];
const open: Outbox[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "outbox-test-"));
  dirs.push(d);
  return d;
}
function outbox(dir: string, opts: Partial<OutboxOptions> = {}): Outbox {
  const o = openOutbox({ dir, maxBytes: 1024 * 1024, segmentBytes: 4096, log, ...opts });
  open.push(o);
  return o;
}
const rec = (i: number) => Buffer.from(`result-${String(i).padStart(6, "0")}-${"p".repeat(i % 50)}`);
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

function drain(o: Outbox, limit = Infinity): string[] {
  const out: string[] = [];
  for (let e = o.peek(); e && out.length < limit; e = o.peek()) {
    out.push(text(e.bytes));
    o.ack(e);
  }
  return out;
}

describe("outbox", () => {
  it("returns records in append order across many segments, then deletes the segments", () => {
    const dir = tempDir();
    const o = outbox(dir);
    for (let i = 0; i < 1000; i++) expect(o.append(rec(i))).toBe(true);
    expect(o.depth()).toBe(1000);
    expect(readdirSync(dir).filter((f) => f.endsWith(".log")).length).toBeGreaterThan(10);
    expect(drain(o)).toEqual(Array.from({ length: 1000 }, (_, i) => text(rec(i))));
    expect(o.depth()).toBe(0);
    expect(o.peek()).toBeUndefined();
    expect(readdirSync(dir).filter((f) => f.endsWith(".log"))).toEqual([]);
  });

  it("interleaves appends and replay in order", () => {
    const o = outbox(tempDir());
    const seen: string[] = [];
    let n = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 30; i++) o.append(rec(n++));
      seen.push(...drain(o, 25));
    }
    seen.push(...drain(o));
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => text(rec(i))));
  });

  it("stays within its byte bound by dropping the oldest records, counting them", () => {
    const dir = tempDir();
    const o = outbox(dir, { maxBytes: 64 * 1024, segmentBytes: 8 * 1024 });
    const total = 5000;
    for (let i = 0; i < total; i++) {
      o.append(rec(i));
      expect(o.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    }
    const { dropped, depth } = o.stats();
    expect(dropped).toBeGreaterThan(0);
    expect(dropped + depth).toBe(total);
    const left = drain(o);
    // What is left is the newest records, contiguous and in order.
    expect(left).toEqual(Array.from({ length: depth }, (_, i) => text(rec(total - depth + i))));
  });

  it("survives a crash: a reopened outbox replays everything not acknowledged, in order", () => {
    const dir = tempDir();
    const a = openOutbox({ dir, maxBytes: 1024 * 1024, segmentBytes: 4096, cursorEvery: 10, log });
    for (let i = 0; i < 500; i++) a.append(rec(i));
    const acked = drain(a, 123);
    expect(acked).toHaveLength(123);
    // Crash: no close(), no flush. The next process opens the same dir.
    const b = outbox(dir, { cursorEvery: 10 });
    const replay = drain(b);
    // Nothing lost; at most cursorEvery records already sent come again (duplicates are harmless).
    const firstIndex = Number(/result-(\d+)/.exec(replay[0]!)![1]);
    expect(firstIndex).toBeLessThanOrEqual(123);
    expect(123 - firstIndex).toBeLessThan(10 + 1);
    expect(replay).toEqual(Array.from({ length: 500 - firstIndex }, (_, i) => text(rec(firstIndex + i))));
  });

  it("resumes exactly at the cursor after a clean close", () => {
    const dir = tempDir();
    const a = openOutbox({ dir, maxBytes: 1024 * 1024, segmentBytes: 4096, log });
    for (let i = 0; i < 100; i++) a.append(rec(i));
    drain(a, 37);
    a.close();
    const b = outbox(dir);
    expect(b.depth()).toBe(63);
    expect(text(b.peek()!.bytes)).toBe(text(rec(37)));
  });

  it("cuts a torn write off on open and keeps working", () => {
    const dir = tempDir();
    const a = openOutbox({ dir, maxBytes: 1024 * 1024, segmentBytes: 4096, log });
    for (let i = 0; i < 20; i++) a.append(rec(i));
    a.close();
    const last = readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .sort()
      .at(-1)!;
    // Half a record: a header promising 100 bytes, then 5.
    appendFileSync(join(dir, last), Buffer.from([0, 0, 0, 100, 1, 2, 3, 4, 9, 9, 9, 9, 9]));
    const b = outbox(dir);
    expect(b.stats()).toMatchObject({ depth: 20, corrupt: 1 });
    b.append(rec(20));
    expect(drain(b)).toEqual(Array.from({ length: 21 }, (_, i) => text(rec(i))));
  });

  it("refuses a record bigger than a segment, counting it", () => {
    const o = outbox(tempDir());
    expect(o.append(Buffer.alloc(10_000))).toBe(false);
    expect(o.stats().dropped).toBe(1);
    expect(o.depth()).toBe(0);
  });

  it("ignores an ack for a record that was dropped meanwhile", () => {
    const o = outbox(tempDir(), { maxBytes: 16 * 1024, segmentBytes: 4096 });
    o.append(rec(0));
    const head = o.peek()!;
    for (let i = 1; i < 2000; i++) o.append(rec(i));
    o.ack(head); // record 0 is long gone
    const first = o.peek()!;
    expect(text(first.bytes)).not.toBe(text(rec(0)));
    const depth = o.depth();
    o.ack(first);
    expect(o.depth()).toBe(depth - 1);
  });
});
