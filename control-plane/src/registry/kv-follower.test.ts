import type { KvWatchEntry } from "@nats-io/kv";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { memoryKv } from "../testing/memory-kv.js";
import { followKv, lagVerdict, type Lag } from "./kv-follower.js";

describe("lagVerdict", () => {
  const stallMs = 5000;

  it("forgets the lag once caught up, and starts one when the bucket is first seen ahead", () => {
    const lag: Lag = { since: 0, delivered: 3, reopenings: 2 };
    expect(lagVerdict(lag, { head: 3, delivered: 3, at: 10_000, stallMs })).toEqual({ lag: undefined, reopen: false });
    expect(lagVerdict(undefined, { head: 5, delivered: 3, at: 100, stallMs })).toEqual({
      lag: { since: 100, delivered: 3, reopenings: 0 },
      reopen: false,
    });
  });

  it("re-opens after stallMs without progress, and not while the watcher delivers", () => {
    const lag: Lag = { since: 100, delivered: 3, reopenings: 0 };
    expect(lagVerdict(lag, { head: 9, delivered: 3, at: 100 + stallMs - 1, stallMs }).reopen).toBe(false);
    // Slow but moving (a large initial load): the lag starts over, no re-opening.
    expect(lagVerdict(lag, { head: 9, delivered: 4, at: 100 + stallMs * 3, stallMs })).toEqual({
      lag: { since: 100 + stallMs * 3, delivered: 4, reopenings: 0 },
      reopen: false,
    });
    expect(lagVerdict(lag, { head: 9, delivered: 3, at: 100 + stallMs, stallMs })).toEqual({
      lag: { since: 100 + stallMs, delivered: 3, reopenings: 1 },
      reopen: true,
      behindMs: stallMs,
    });
  });

  it("waits twice as long after each re-opening that brought nothing, up to 16 times stallMs", () => {
    let lag: Lag | undefined;
    let at = 0;
    const reopenedAt: number[] = [];
    for (; at <= 100 * stallMs; at += 100) {
      const v = lagVerdict(lag, { head: 9, delivered: 3, at, stallMs });
      lag = v.lag;
      if (v.reopen) reopenedAt.push(at);
    }
    const gaps = reopenedAt.map((t, i) => t - (reopenedAt[i - 1] ?? 0));
    expect(gaps.slice(0, 6)).toEqual([1, 2, 4, 8, 16, 16].map((k) => k * stallMs));
  });
});

describe("followKv: a watcher that stops delivering while the bucket moves on", () => {
  /** A follower on a fresh bucket with a clock the test moves, logging warnings into `lines`. */
  async function follower(opts: { expectOwnWrites?: boolean } = {}) {
    const { b, bucket } = memoryKv();
    await bucket.put("a", "1");
    let t = 0;
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => lines.push(JSON.parse(l).msg as string) });
    const seen: number[] = [];
    const reopened: string[] = [];
    const f = followKv({
      kv: bucket,
      log,
      onEntry: (e: KvWatchEntry) => seen.push(e.revision),
      rewatchDelayMs: 1,
      stallMs: 5000,
      probeMs: opts.expectOwnWrites ? 0 : 5,
      monotonicNow: () => t,
      onReopen: (reason) => reopened.push(reason),
    });
    await f.catchUp(1000);
    return { b, bucket, f, seen, lines, reopened, advance: (ms: number) => (t += ms) };
  }
  const someProbes = () => new Promise((r) => setTimeout(r, 40));

  it("is re-opened from the last revision it delivered once the bucket stayed ahead for stallMs: no gap, no duplicate", async () => {
    const { b, f, seen, lines, reopened, advance } = await follower();
    try {
      b.stallWatchers();
      b.append("a", "PUT", "2");
      b.append("b", "PUT", "3");
      await someProbes();
      advance(4999);
      await someProbes();
      expect(b.watchesOpened).toBe(1);
      expect(seen).toEqual([1]);
      advance(1);
      await vi.waitFor(() => expect(seen).toEqual([1, 2, 3]));
      expect(b.watchesOpened).toBe(2);
      expect(f.stalls).toBe(1);
      expect(f.restarts).toBe(1);
      // One line per re-opening (not a second one when the stopped watcher ends).
      expect(lines).toEqual(["KV watcher stalled; re-opening"]);
      expect(reopened).toEqual(["stalled"]);
      // Then it follows the bucket again.
      b.append("c", "PUT", "4");
      await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4]));
    } finally {
      await f.stop();
    }
  });

  it("is left alone while the bucket does not change, however long", async () => {
    const { b, f, seen, reopened, advance } = await follower();
    try {
      for (let i = 0; i < 5; i++) {
        advance(60_000);
        await someProbes();
      }
      expect(b.watchesOpened).toBe(1);
      expect(f.stalls).toBe(0);
      expect(reopened).toEqual([]);
      b.append("a", "PUT", "2");
      await vi.waitFor(() => expect(seen).toEqual([1, 2]));
      expect(b.statusRequests).toBeGreaterThan(5);
    } finally {
      await f.stop();
    }
  });

  it("without the probe (probeMs 0) a stalled watcher of a caller that writes nothing stays stalled", async () => {
    const { b, f, seen, advance } = await follower({ expectOwnWrites: true });
    try {
      b.stallWatchers();
      b.append("a", "PUT", "2");
      advance(60_000);
      await someProbes();
      expect(seen).toEqual([1]);
      expect(b.watchesOpened).toBe(1);
    } finally {
      await f.stop();
    }
  });

  it("counts a watcher that could not be opened as re-opened for `ended`, once per attempt", async () => {
    const { b, bucket } = memoryKv();
    await bucket.put("a", "1");
    b.failing = () => new Error("no responders");
    const reopened: string[] = [];
    const f = followKv({
      kv: bucket,
      log: pino({ level: "silent" }),
      onEntry: () => undefined,
      rewatchDelayMs: 1,
      probeMs: 0,
      onReopen: (reason) => reopened.push(reason),
    });
    try {
      await vi.waitFor(() => expect(reopened.length).toBeGreaterThanOrEqual(2));
      b.failing = undefined;
      await f.waitForRevision(1, 1000);
      expect(new Set(reopened)).toEqual(new Set(["ended"]));
      expect(reopened.length).toBe(f.restarts);
    } finally {
      await f.stop();
    }
  });
});
