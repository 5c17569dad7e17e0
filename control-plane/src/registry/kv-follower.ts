import { performance } from "node:perf_hooks";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { UnavailableError } from "../errors.js";
import { sleep } from "../sleep.js";

/** Options of {@link followKv}. */
export interface KvFollowerOptions {
  kv: Pick<KV, "watch" | "status">;
  log: Logger;
  /** Called for every entry in revision order: first the last value of each key, then each change. */
  onEntry: (entry: KvWatchEntry) => void;
  /** Pause before re-opening a watcher that ended (e.g. NATS restarted). @default 1000 */
  rewatchDelayMs?: number;
  /**
   * A revision reported by {@link KvFollower.expect} and not delivered within this long means the
   * watcher is stuck, and it is re-opened; so does a bucket whose last revision stays ahead of the
   * watcher this long while the watcher delivers nothing. @default 5000
   */
  stallMs?: number;
  /**
   * How often the bucket's last revision is read (a stream info request) to tell a watcher that
   * stopped delivering from a bucket that stopped changing; 0 turns it off. @default 2000
   */
  probeMs?: number;
  /** Local monotonic clock in ms. @default performance.now */
  monotonicNow?: () => number;
  /** Called at each re-opening of the watcher, with why (e.g. {@link KvWatchReopens.of}, for /metrics). */
  onReopen?: ((reason: KvReopenReason) => void) | undefined;
}

/**
 * Why a watcher was re-opened: it ended or could not be opened (`ended`, e.g. NATS restarted), or this
 * follower stopped it because it stopped delivering while the bucket moved on (`stalled`).
 */
export type KvReopenReason = "ended" | "stalled";

/** A running watcher that mirrors a KV bucket into the caller's memory. */
export interface KvFollower {
  /** Highest revision handed to `onEntry` (0 = none yet). */
  readonly revision: number;
  /** Times the watcher had to be re-opened. */
  readonly restarts: number;
  /** Resolves once every entry up to the bucket's current last revision has been handed over. */
  catchUp(timeoutMs: number): Promise<void>;
  /** Resolves once `revision` has been handed over; rejects after `timeoutMs`. */
  waitForRevision(revision: number, timeoutMs: number): Promise<void>;
  /**
   * Tells the follower that `revision` exists (e.g. the caller's own write just returned it): if the
   * watcher has not handed it over within `stallMs`, the watcher is re-opened from the next revision.
   */
  expect(revision: number): void;
  /**
   * Times the watcher was re-opened because it stopped delivering: an expected revision did not
   * arrive, or the bucket stayed ahead of it without progress.
   */
  readonly stalls: number;
  stop(): Promise<void>;
}

/**
 * Follows a KV bucket with one watcher, re-opened from the next revision whenever it ends, so the
 * caller's in-memory copy stays complete across NATS restarts. The bucket's revision (its stream
 * sequence) orders everything: reads that `catchUp()` first see every write made before them.
 *
 * The watcher is an ordered push consumer on one NATS node. When that node is killed, the client
 * notices only after two missed 30 s heartbeats (the client's fixed value for ordered consumers), so
 * the copy would stand still for a minute while the bucket moves on. A caller that writes to the
 * bucket reports the revisions it wrote ({@link KvFollower.expect}); one not delivered within
 * `stallMs` re-opens the watcher, and the new consumer lands on a live node. A caller that writes
 * nothing is covered by a probe: every `probeMs` the bucket's last revision (stream info) is compared
 * with the last one delivered, and a bucket ahead for `stallMs` with nothing delivered meanwhile
 * re-opens the watcher too ({@link lagVerdict}). Either way it resumes after the last revision it
 * delivered: no gap, nothing applied twice.
 */
export function followKv(opts: KvFollowerOptions): KvFollower {
  const { kv, log, onEntry } = opts;
  const rewatchDelayMs = opts.rewatchDelayMs ?? 1000;
  const stallMs = opts.stallMs ?? 5000;
  const probeMs = opts.probeMs ?? 2000;
  const now = opts.monotonicNow ?? (() => performance.now());
  const waiters = new Set<{ revision: number; resolve: () => void }>();
  let revision = 0;
  let restarts = 0;
  let stalls = 0;
  let stopped = false;
  let iter: QueuedIterator<KvWatchEntry> | undefined;
  /** The oldest revision reported by expect() and not delivered yet, and when it was reported. */
  let expected: { revision: number; since: number } | undefined;
  /** Since when the bucket has been seen ahead of the watcher without it delivering anything. */
  let lag: Lag | undefined;
  /** Why the current watcher was stopped by this follower (its end is then no news to log). */
  let stoppedFor: string | undefined;

  function handOver(e: KvWatchEntry): void {
    if (e.revision <= revision) return;
    try {
      onEntry(e);
    } catch (err) {
      log.error({ err, key: e.key, revision: e.revision }, "KV entry handler threw; entry skipped");
    }
    revision = e.revision;
    if (expected && expected.revision <= revision) expected = undefined;
    for (const w of waiters) {
      if (w.revision <= revision) {
        waiters.delete(w);
        w.resolve();
      }
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const current = await kv.watch(revision > 0 ? { resumeFromRevision: revision + 1 } : {});
        iter = current;
        if (stopped) current.stop();
        for await (const e of current) handOver(e);
        if (!stopped && !stoppedFor) {
          log.warn({ revision }, "KV watcher ended; re-opening");
          opts.onReopen?.("ended");
        }
      } catch (err) {
        if (!stopped && !stoppedFor) {
          log.warn({ err, revision }, "KV watcher failed; re-opening");
          opts.onReopen?.("ended");
        }
      }
      iter = undefined;
      stoppedFor = undefined;
      if (stopped) break;
      restarts++;
      // Re-opened from the next revision: whatever was expected gets its stallMs again.
      if (expected) expected.since = now();
      await sleep(rewatchDelayMs);
    }
  })();

  /** Stops the current watcher for the loop to re-open it; logged once, here. */
  function restartStalled(fields: Record<string, unknown>): void {
    if (!iter || stoppedFor) return;
    stalls++;
    stoppedFor = "stalled";
    log.warn({ revision, stallMs, ...fields }, "KV watcher stalled; re-opening");
    opts.onReopen?.("stalled");
    iter.stop();
  }

  function checkStall(): void {
    if (stopped || !expected || expected.revision <= revision || now() - expected.since < stallMs) return;
    expected.since = now();
    restartStalled({ expected: expected.revision });
  }
  const stallTimer = setInterval(checkStall, Math.max(10, Math.floor(stallMs / 5)));
  stallTimer.unref();

  let probing = false;
  async function probe(): Promise<void> {
    if (stopped || probing || !iter) return;
    probing = true;
    try {
      const head = bucketHead((await kv.status()).streamInfo.state);
      const verdict = lagVerdict(lag, { head, delivered: revision, at: now(), stallMs });
      lag = verdict.lag;
      if (verdict.reopen) restartStalled({ bucketRevision: head, behindMs: verdict.behindMs });
    } catch {
      // The bucket does not answer (e.g. its leader is being elected): nothing to compare with.
    } finally {
      probing = false;
    }
  }
  const probeTimer = probeMs > 0 ? setInterval(() => void probe(), probeMs) : undefined;
  probeTimer?.unref();

  function waitForRevision(target: number, timeoutMs: number): Promise<void> {
    if (target <= revision) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        revision: target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new UnavailableError(`KV bucket not caught up to revision ${target} within ${timeoutMs} ms (at ${revision})`),
        );
      }, timeoutMs);
      waiters.add(waiter);
    });
  }

  return {
    get revision() {
      return revision;
    },
    get restarts() {
      return restarts;
    },
    get stalls() {
      return stalls;
    },
    expect(target) {
      if (target <= revision || (expected && expected.revision <= target)) return;
      expected = { revision: target, since: now() };
    },
    async catchUp(timeoutMs) {
      let target: number;
      try {
        target = bucketHead((await kv.status()).streamInfo.state);
      } catch (err) {
        throw new UnavailableError(`KV bucket unavailable: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      await waitForRevision(target, timeoutMs);
    },
    waitForRevision,
    async stop() {
      stopped = true;
      clearInterval(stallTimer);
      clearInterval(probeTimer);
      iter?.stop();
      await loop;
    },
  };
}

/** The last revision a watcher of the bucket can deliver. */
function bucketHead(state: { messages: number; last_seq: number }): number {
  // An emptied stream keeps its last sequence but has nothing left to deliver.
  return state.messages === 0 ? 0 : state.last_seq;
}

/** The bucket seen ahead of its watcher: since when (local monotonic ms), and how far the watcher had got. */
export interface Lag {
  since: number;
  delivered: number;
  /** Re-openings since the watcher last made progress: each one doubles the wait before the next. */
  reopenings: number;
}

/**
 * One probe of a follower: the bucket's last revision `head` against the last one `delivered`. A
 * watcher that delivers anything (or is caught up) is fine; one the bucket stays ahead of for
 * `stallMs` with nothing delivered is re-opened, then given twice as long after each re-opening that
 * brought nothing (at most 16 × `stallMs`), so a revision it can never deliver does not re-open it
 * every few seconds.
 */
export function lagVerdict(
  lag: Lag | undefined,
  p: { head: number; delivered: number; at: number; stallMs: number },
): { lag: Lag | undefined; reopen: boolean; behindMs?: number } {
  if (p.head <= p.delivered) return { lag: undefined, reopen: false };
  if (!lag || p.delivered > lag.delivered)
    return { lag: { since: p.at, delivered: p.delivered, reopenings: 0 }, reopen: false };
  const behindMs = p.at - lag.since;
  if (behindMs < p.stallMs * 2 ** Math.min(lag.reopenings, 4)) return { lag, reopen: false };
  return { lag: { since: p.at, delivered: p.delivered, reopenings: lag.reopenings + 1 }, reopen: true, behindMs };
}
