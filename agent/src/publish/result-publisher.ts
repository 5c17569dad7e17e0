import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, ProbeState, type ProbeResult } from "@probemesh/proto";
import type { Logger } from "pino";
import { createBackoff, type BackoffOptions } from "../backoff.js";
import { systemClock, type Clock, type TimerHandle } from "../schedule/clock.js";
import type { Outbox, OutboxStats } from "./outbox.js";
import { decodeOutboxRecord, encodeOutboxRecord, isKeepableSubject } from "./outbox-record.js";
import type { ResultSink } from "./result-sink.js";
import type { SeqCounter } from "./seq-counter.js";

/** Dependencies and options of `createResultPublisher`. */
export interface ResultPublisherOptions {
  sink: ResultSink;
  outbox: Outbox;
  /**
   * This agent's unpartitioned subject (`resultSubject(region, agentId)`): where a result published without
   * a subject goes, and outbox records written by earlier releases (which kept no subject) are replayed.
   */
  subject: string;
  log: Logger;
  /** @default systemClock() */
  clock?: Clock;
  /** Retry delays while replaying the outbox against a failing sink. @default { initialMs: 250, maxMs: 5000 } */
  retry?: BackoffOptions;
  /**
   * How long a result may wait for others to share its window: results published within it go
   * out together and their acks are awaited together (one socket write, one wake-up), not one
   * round trip each. 0 sends whatever queued while the previous window was in flight. A result that
   * may decide a transition does not wait: one that is not up, and the {@link URGENT_AFTER_NOT_UP}
   * results of its check after one (a recovery is decided on successes in a row).
   * @default DEFAULT_PUBLISH_LINGER_MS
   */
  lingerMs?: number;
  /** Most results in flight in one window. @default 256 */
  maxWindow?: number;
  /**
   * Told the highest `seq` of the results about to leave memory (sent or written to the outbox),
   * before they leave: a restart after a crash resumes numbering right after it (no gap, no reuse).
   */
  seq?: Pick<SeqCounter, "released">;
}

/** Default wait for a publish window to fill: 100 results/s then share one round trip by fours. */
export const DEFAULT_PUBLISH_LINGER_MS = 40;

/** How many results of a check after one that was not up are sent without the linger. */
export const URGENT_AFTER_NOT_UP = 5;
/** Most checks tracked at once for {@link URGENT_AFTER_NOT_UP}; the oldest is forgotten beyond it. */
const MAX_TRACKED_CHECKS = 10_000;

/** Counters of the publisher. */
export interface PublisherStats {
  /** Results the sink confirmed (direct or replayed). */
  published: number;
  /** Results written to the outbox instead of being sent directly. */
  outboxed: number;
  /** Publish attempts that failed. */
  failures: number;
  /** Results in memory waiting to be sent. */
  pending: number;
  /** Outbox records that could not be decoded and were discarded. */
  undecodable: number;
  outbox: OutboxStats;
}

/** Publishes results in order, through the outbox whenever the sink cannot take them. */
export interface ResultPublisher {
  /**
   * Queues a result for `subject` (@default the `subject` option); never throws and never blocks on the
   * network. The subject stays with the result through the outbox: a result replayed after a restart
   * goes where it was built for, whatever the partition count is by then.
   */
  publish(result: ProbeResult, subject?: string): void;
  stats(): PublisherStats;
  /**
   * Stops sending: gives in-memory results up to `flushMs` to reach the sink, writes the rest to
   * the outbox (replayed at next start) and closes the outbox. @default flushMs 2000
   */
  close(options?: { flushMs?: number }): Promise<void>;
}

interface Pending {
  id: string;
  seq: bigint;
  subject: string;
  bytes: Uint8Array;
  /** Clock time it was queued, for the linger. */
  at: number;
  /** Sent without waiting for the linger (it may decide a transition). */
  urgent: boolean;
}

/**
 * Creates the publisher and starts its send loop. Order is kept by one rule: the outbox is
 * always older than what is in memory, so while the outbox is non-empty new results go behind it,
 * and only the loop ever moves results from memory to the outbox. Direct sends go out in windows:
 * within one window JetStream stores them in publish order (one connection); if one fails, it and
 * everything after it go to the outbox in order (a later one the stream did store is dropped as a
 * duplicate of its id when replayed), so no result is lost and none overtakes an older one.
 */
export function createResultPublisher(options: ResultPublisherOptions): ResultPublisher {
  const { sink, outbox } = options;
  if (!isKeepableSubject(options.subject)) throw new RangeError(`invalid result subject ${options.subject}`);
  const clock = options.clock ?? systemClock();
  const log = options.log.child({ component: "publisher" });
  const retry = createBackoff({ initialMs: 250, maxMs: 5000, ...options.retry });
  const lingerMs = options.lingerMs ?? DEFAULT_PUBLISH_LINGER_MS;
  const maxWindow = options.maxWindow ?? 256;
  const memory: Pending[] = [];
  /** Checks whose recent results were not all up: how many more of their results go without the linger. */
  const urgentLeft = new Map<string, number>();
  const isUrgent = (result: ProbeResult): boolean => {
    if (result.state !== ProbeState.UP) {
      urgentLeft.delete(result.checkId);
      urgentLeft.set(result.checkId, URGENT_AFTER_NOT_UP);
      if (urgentLeft.size > MAX_TRACKED_CHECKS) urgentLeft.delete(urgentLeft.keys().next().value!);
      return true;
    }
    const left = urgentLeft.get(result.checkId);
    if (left === undefined) return false;
    if (left <= 1) urgentLeft.delete(result.checkId);
    else urgentLeft.set(result.checkId, left - 1);
    return true;
  };
  let published = 0;
  let outboxed = 0;
  let failures = 0;
  let undecodable = 0;
  let stopping = false;
  let closed = false;
  let buffering = outbox.depth() > 0;
  let wakeWork: (() => void) | undefined;
  /** Whether `wakeWork` waits for any result or for a full window. */
  let wakeOn: "any" | "full" = "any";
  let wakeSink: (() => void) | undefined;

  const pause = (opts: { onWork: false | "any" | "full"; ms?: number }) =>
    new Promise<void>((resolve) => {
      let timer: TimerHandle | undefined;
      const done = () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        wakeWork = wakeSink = undefined;
        resolve();
      };
      wakeSink = done;
      if (opts.onWork) {
        wakeWork = done;
        wakeOn = opts.onWork;
      }
      if (opts.ms !== undefined) timer = clock.setTimeout(done, opts.ms);
    });

  const unsubscribe = sink.onUpChange(() => wakeSink?.());

  /** Records, before they leave memory, the highest seq of `items` (see the `seq` option). */
  const release = (items: readonly Pending[]) => {
    if (!options.seq || items.length === 0) return;
    let high = 0n;
    for (const item of items) if (item.seq > high) high = item.seq;
    try {
      options.seq.released(high);
    } catch (err) {
      // The counter fell back to its fsynced reservation (a gap after a crash, never a reuse): keep sending.
      log.error({ err }, "could not record the released seq");
    }
  };

  const send = async (item: Pending): Promise<boolean> => {
    try {
      await sink.publish(item.subject, item.bytes, item.id);
      published++;
      return true;
    } catch (err) {
      failures++;
      log.debug({ err }, "publish failed");
      return false;
    }
  };

  const spill = () => {
    if (memory.length === 0) return;
    if (!buffering) {
      buffering = true;
      log.warn({ pending: memory.length }, "results cannot be published now; writing them to the outbox");
    }
    release(memory);
    for (const item of memory.splice(0)) {
      outbox.append(encodeOutboxRecord(item.subject, item.bytes));
      outboxed++;
    }
  };

  const loop = async () => {
    while (!stopping) {
      if (outbox.depth() > 0) {
        spill();
        if (!sink.isUp()) {
          await pause({ onWork: false });
          continue;
        }
        const entry = outbox.peek();
        if (!entry) continue;
        let item: Pending;
        try {
          const record = decodeOutboxRecord(entry.bytes);
          const result = fromBinary(ProbeResultSchema, record.result);
          item = {
            id: result.id,
            seq: result.seq,
            subject: record.subject ?? options.subject,
            bytes: record.result,
            at: 0,
            urgent: false,
          };
        } catch (err) {
          undecodable++;
          log.error({ err }, "outbox record is not a ProbeResult; discarded");
          outbox.ack(entry);
          continue;
        }
        const ok = await send(item);
        if (closed) return;
        if (ok) {
          outbox.ack(entry);
          retry.reset();
          if (outbox.depth() === 0 && buffering) {
            buffering = false;
            log.info("outbox replayed; publishing directly again");
          }
        } else {
          await pause({ onWork: false, ms: retry.next() });
        }
      } else if (memory.length > 0) {
        if (!sink.isUp()) {
          spill();
          continue;
        }
        const wait = memory[0]!.at + lingerMs - clock.now();
        if (wait > 0 && memory.length < maxWindow && !memory.some((p) => p.urgent)) {
          await pause({ onWork: "full", ms: wait });
          continue;
        }
        const window = memory.slice(0, maxWindow);
        release(window);
        const oks = await Promise.all(window.map(send));
        if (closed) return;
        const firstFailed = oks.indexOf(false);
        // Stored ones leave memory; from the first failure on, results wait in the outbox, in order.
        memory.splice(0, firstFailed === -1 ? window.length : firstFailed);
        if (firstFailed !== -1) spill();
      } else {
        await pause({ onWork: "any" });
      }
    }
  };
  const running = loop().catch((err: unknown) => log.error({ err }, "publisher loop failed"));

  return {
    publish(result, subject = options.subject) {
      if (closed) {
        log.error({ resultId: result.id }, "result after publisher close; dropped");
        return;
      }
      if (!isKeepableSubject(subject)) {
        // Callers build subjects with resultSubject; this only keeps a bug from stopping the send loop.
        log.error({ resultId: result.id, subject: subject.slice(0, 300) }, "result with an invalid subject; dropped");
        return;
      }
      const urgent = isUrgent(result);
      memory.push({
        id: result.id,
        seq: result.seq,
        subject,
        bytes: toBinary(ProbeResultSchema, result),
        at: clock.now(),
        urgent,
      });
      if (wakeOn === "any" || memory.length >= maxWindow || urgent) wakeWork?.();
    },
    stats: () => ({ published, outboxed, failures, pending: memory.length, undecodable, outbox: outbox.stats() }),
    async close({ flushMs = 2000 } = {}) {
      if (closed) return;
      // Let the loop work on for a moment if it can still get results out.
      const deadline = clock.now() + flushMs;
      while (memory.length > 0 && outbox.depth() === 0 && sink.isUp() && clock.now() < deadline) {
        await new Promise<void>((r) => clock.setTimeout(r, 20));
      }
      stopping = true;
      wakeSink?.();
      let timer: TimerHandle | undefined;
      await Promise.race([running, new Promise<void>((r) => (timer = clock.setTimeout(r, 200)))]);
      if (timer !== undefined) clock.clearTimeout(timer);
      // A send still in flight may yet succeed; keeping it in the outbox only risks a duplicate.
      closed = true;
      spill();
      unsubscribe();
      outbox.close();
      log.info({ published, outboxDepth: outbox.depth() }, "publisher closed");
    },
  };
}
