import { fromBinary } from "@bufbuild/protobuf";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { ProbeResultSchema, RESULTS_STREAM, RESULTS_SUBJECT_ALL } from "@probemesh/proto";
import type { Logger } from "pino";
import { backoffPolicy } from "../backoff.js";
import { ensureConsumer } from "../jetstream/ensure.js";
import { isDataRejection } from "../store/clickhouse-store.js";
import type { ResultRow, ResultStore } from "../store/types.js";
import { createUntrustedLog, type ResultBinding, type UntrustedCounts } from "./result-binding.js";
import { resultToRow } from "./result-to-row.js";

/** Options of createIngest. */
export interface IngestOptions {
  nc: NatsConnection;
  /** Where rows go; messages are acked only after insertResults resolves. */
  store: Pick<ResultStore, "insertResults">;
  log: Logger;
  /** Durable pull consumer name, shared by every control-plane replica. @default "probemesh-ingest" */
  durable?: string;
  /**
   * Most rows per insert (the batch a backlog grows to). An insert costs ClickHouse 18.16 ~50-100 ms of
   * CPU whatever its size (parts of `results` and of each rollup written, merged later) plus ~3 µs a
   * row, so bigger is cheaper: per 1,000 rows ~70 CPU-ms at 1,000 rows an insert, ~15 at 5,000, ~6 at
   * 25,000 (`pnpm bench:ingest-insert`). @default 10000
   */
  batchSize?: number;
  /**
   * While the consumer is caught up (the server reports nothing more pending), a batch of fewer than
   * {@link QUIET_FLUSH_ROWS} rows is inserted once no message has arrived for this long: a lone result
   * when idle is stored about flushMs after it arrives. @default 50
   */
  flushMs?: number;
  /**
   * The same quiet gap for a batch of {@link QUIET_FLUSH_ROWS} rows or more, i.e. while results flow:
   * the tail of a burst is stored this long after its last result. Longer than flushMs because a
   * pause of a few tens of ms in a steady flow (a process descheduled on a busy host) would otherwise
   * cut it into several small inserts, each costing ClickHouse as much as a big one. @default 250
   */
  busyFlushMs?: number;
  /**
   * Longest the oldest buffered message waits for its batch to reach batchSize while messages keep
   * arriving (a steady flow, or a backlog the server reports pending): big batches, few inserts.
   * Each insert writes a part to `results` and to each rollup view, which ClickHouse merges later,
   * so a few large inserts a second cost it far less CPU than many small ones. @default 1000
   */
  backlogFlushMs?: number;
  /**
   * Unacked messages the server hands this consumer at most: one batch inserting, one filling. Bounds
   * memory while ClickHouse is down, and keeps a backlog waiting in the stream, where it costs nothing,
   * rather than here, where every held message needs an in-progress ack each progressMs (with 3 x
   * batchSize, a loaded host sent up to 6 of those per result). @default 2 * batchSize
   */
  maxAckPending?: number;
  /**
   * Redelivery after this long without ack or progress: how long a killed replica's in-flight messages
   * wait before another replica gets them. Messages held longer (a slow insert) get in-progress acks.
   * @default 4000
   */
  ackWaitMs?: number;
  /**
   * A buffered or in-flight message not touched for this long gets an in-progress ack (`working()`),
   * checked every {@link PROGRESS_CHECK_MS} at most, so it is sent before ackWaitMs with at least
   * ackWaitMs - progressMs - PROGRESS_CHECK_MS to spare. Each is one more message to nats-server: a
   * batch that waits less than this (a steady flow that keeps up) needs none. @default ackWaitMs / 2
   */
  progressMs?: number;
  /** First retry delay after a failed insert; doubles per consecutive failure. @default 500 */
  retryMinMs?: number;
  /** Cap of the retry delay (a failed batch and everything buffered are nak'ed with this delay). @default 10000 */
  retryMaxMs?: number;
  /** Clock for lastInsertAt (batch age uses the monotonic clock). @default Date.now */
  now?: () => number;
  /** Called with each stored batch after it is acked (the consensus engine hangs here); errors are logged. */
  onStored?: (rows: ResultRow[]) => void | Promise<void>;
  /**
   * Binds results to their sender: one that fails it is counted, logged (rate-limited) and terminated,
   * never stored nor handed to onStored. Without it every valid result is trusted (tests and tools that
   * read a stream they wrote themselves); the control plane always passes one.
   */
  binding?: ResultBinding;
  /**
   * Deliveries a result of an agent or a check this replica does not know yet gets before it is dropped
   * as `notEnrolled` / `notAssigned` / `partition`: its copy of the enrollments or the registry may trail
   * the replica that enrolled the agent or handed it the check (a check deleted and created again has a
   * new uid, so a new partition), and a result must not be lost to that. @default 3
   */
  unknownDeliveries?: number;
  /** Delay before such a result comes back. @default 2000 */
  unknownRetryMs?: number;
}

/** Longest time between two looks for held messages that need an in-progress ack. */
export const PROGRESS_CHECK_MS = 500;

/** A batch this big means results are flowing: it waits `busyFlushMs` of quiet, not `flushMs`. */
export const QUIET_FLUSH_ROWS = 100;

/** Counters of one ingest instance since start. */
export interface IngestStats {
  /** Messages delivered (including redeliveries). */
  received: number;
  /** Rows inserted and acked. */
  inserted: number;
  /** Messages that could not be decoded or failed validation; terminated, never redelivered. */
  malformed: number;
  /** Failed insert attempts (their messages were nak'ed and come back). */
  insertFailures: number;
  /**
   * Messages ClickHouse refused as data (a parse or type error on their values) while other rows
   * of the same batch were stored: terminated, so one bad row never blocks the stream.
   */
  rejected: number;
  /**
   * Results dropped because they are not bound to their sender, per reason: region/agent differ from
   * the subject's, agent not enrolled or revoked, region not the agent's, check not assigned to that
   * region (or unknown), partition token not its check's. Terminated, never stored, never seen by consensus.
   */
  untrusted: UntrustedCounts;
  /** Epoch ms of the last successful insert. */
  lastInsertAt: number | undefined;
  /** Valid messages received and not yet acked. */
  pending: number;
  /** Insert attempts (batches sent to ClickHouse, isolation retries included). */
  inserts: number;
  /** Rows of the largest batch sent. */
  largestBatch: number;
  /** In-progress acks sent (messages held past progressMs by a slow insert). */
  progressAcks: number;
  /**
   * Redelivered copies of messages this ingest still held (buffered or in an insert) or had just
   * stored, recognised by stream sequence and dropped: neither held nor inserted twice. The server
   * redelivers a held message when its in-progress ack came too late (a stalled process); the ack of
   * the first delivery settles both, since nats-server acks by stream sequence. Copies of just-stored
   * messages are acked again.
   */
  redeliveredCopies: number;
  /** Messages handed back with nak() because the ingest stopped before inserting them. */
  nakedOnStop: number;
}

/** The NATS -> ClickHouse ingest loop. */
export interface Ingest {
  /** Creates/updates the durable consumer and starts consuming (the stream must exist: ensureResultsStream). */
  start(): Promise<void>;
  /**
   * Stops consuming, lets the insert in flight finish (acked when stored), naks everything buffered and
   * not yet sent (another replica gets it at once, not after ackWaitMs) and resolves when idle.
   */
  stop(): Promise<void>;
  stats(): IngestStats;
}

interface Pending {
  msg: JsMsg;
  row: ResultRow;
  /** performance.now() at receipt. */
  at: number;
  /** performance.now() of the receipt or the last in-progress ack. */
  touched: number;
  /** Stream sequence (msg.info.streamSequence). */
  seq: number;
}

/** Guards every ack/nak/term: a closed connection must not crash the loop (the server redelivers anyway). */
function settle(log: Logger, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.debug({ err, what }, "could not settle message; it will be redelivered");
  }
}

/**
 * An interruptible sleep: nap(ms) resolves after ms or as soon as wake() is called (a wake with no nap is
 * lost). A plain timer and resolver: arriving messages may wake the flusher many times a second, and an
 * AbortController's abort builds a DOMException each time.
 */
function napper(): { nap(ms: number): Promise<void>; wake(): void } {
  let timer: NodeJS.Timeout | undefined;
  let done: (() => void) | undefined;
  const wake = (): void => {
    if (done === undefined) return;
    clearTimeout(timer);
    const resolve = done;
    done = undefined;
    timer = undefined;
    resolve();
  };
  return {
    nap: (ms) =>
      new Promise<void>((resolve) => {
        wake();
        done = resolve;
        timer = setTimeout(wake, Math.max(0, ms));
      }),
    wake,
  };
}

/** Creates the ingest; nothing happens until start(). */
export function createIngest(opts: IngestOptions): Ingest {
  const { nc, store, onStored } = opts;
  const log = opts.log.child({ component: "ingest" });
  const durable = opts.durable ?? "probemesh-ingest";
  const batchSize = opts.batchSize ?? 10_000;
  const flushMs = opts.flushMs ?? 50;
  const backlogFlushMs = Math.max(opts.backlogFlushMs ?? 1000, flushMs);
  const busyFlushMs = Math.min(Math.max(opts.busyFlushMs ?? 250, flushMs), backlogFlushMs);
  const maxAckPending = opts.maxAckPending ?? batchSize * 2;
  const ackWaitMs = opts.ackWaitMs ?? 4000;
  const progressMs = opts.progressMs ?? Math.floor(ackWaitMs / 2);
  const retry = backoffPolicy({ initialMs: opts.retryMinMs ?? 500, maxMs: opts.retryMaxMs ?? 10_000, jitter: "none" });
  const now = opts.now ?? Date.now;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!(flushMs >= 0)) throw new RangeError(`flushMs must be >= 0, got ${flushMs}`);
  if (!(busyFlushMs >= 0)) throw new RangeError(`busyFlushMs must be >= 0, got ${opts.busyFlushMs}`);
  if (!Number.isSafeInteger(maxAckPending) || maxAckPending < batchSize)
    throw new RangeError(`maxAckPending must be >= batchSize`);
  if (!Number.isSafeInteger(ackWaitMs) || ackWaitMs < 1000)
    throw new RangeError(`ackWaitMs must be an integer >= 1000, got ${ackWaitMs}`);
  if (!(progressMs >= 100 && progressMs < ackWaitMs))
    throw new RangeError(`progressMs must be >= 100 and < ackWaitMs, got ${progressMs}`);

  const { binding } = opts;
  const unknownDeliveries = opts.unknownDeliveries ?? 3;
  const unknownRetryMs = opts.unknownRetryMs ?? 2000;
  const untrusted = createUntrustedLog({ log, now });
  const stats: Omit<IngestStats, "pending" | "untrusted"> = {
    received: 0,
    inserted: 0,
    malformed: 0,
    insertFailures: 0,
    rejected: 0,
    lastInsertAt: undefined,
    inserts: 0,
    largestBatch: 0,
    progressAcks: 0,
    redeliveredCopies: 0,
    nakedOnStop: 0,
  };
  const buffer: Pending[] = [];
  /**
   * Every message in `buffer` or `inFlight`, by stream sequence, to recognise a redelivered copy. Built at
   * the first copy and kept until nothing is held: results that are not redelivered never pay for it.
   */
  const held = new Map<number, Pending>();
  let indexed = false;
  /**
   * The last batches acked (about 4 x maxAckPending messages, oldest first), for late copies of them: a
   * busy nats-server may take its time over an ack and redeliver meanwhile, while more batches are acked.
   */
  const recentBatches: number[][] = [];
  let recentCount = 0;
  /** Their stream sequences, built at the first copy after an ack (an ack makes it stale). */
  let recentlyAcked: Set<number> | undefined;
  /** The batch being inserted (held until acked or nak'ed, so it gets in-progress acks). */
  let inFlight: Pending[] = [];
  /** Messages the server said were still pending for the consumer after the last one received (the backlog). */
  let backlog = 0;
  let running = false;
  let stopping = false;
  let messages: ConsumerMessages | undefined;
  let loops: Promise<void> | undefined;
  const flushTimer = napper();
  const retryTimer = napper();
  // Separate from flushTimer so that arriving messages do not cut a backoff short.
  const backoffTimer = napper();
  const progressTimer = napper();
  let flushed = false;
  /** performance.now() when the last message was buffered (the flow is quiet when it is flushMs old). */
  let lastArrival = 0;

  function receive(msg: JsMsg): void {
    stats.received++;
    const info = msg.info;
    if (info.deliveryCount > 1 && isCopy(msg, info.streamSequence)) return;
    if (stopping) {
      // Delivered while the consumer closes: hand it straight back rather than let it wait for ackWaitMs.
      stats.nakedOnStop++;
      settle(log, "nak", () => msg.nak());
      return;
    }
    let row: ResultRow;
    try {
      row = resultToRow(fromBinary(ProbeResultSchema, msg.data));
    } catch (err) {
      // Terminated, not nak'ed: a message that cannot be stored must never block the stream.
      stats.malformed++;
      log.warn(
        {
          subject: msg.subject,
          streamSeq: info.streamSequence,
          bytes: msg.data.length,
          problem: err instanceof Error ? err.message : String(err),
        },
        "malformed probe result terminated",
      );
      settle(log, "term", () => msg.term());
      return;
    }
    const untrustedBy = binding?.problem(row, msg.subject);
    if (untrustedBy !== undefined) {
      const unknown =
        untrustedBy === "notEnrolled" ||
        untrustedBy === "partition" ||
        (untrustedBy === "notAssigned" && !binding?.hasCheck(row.checkId));
      if (unknown && info.deliveryCount < unknownDeliveries) {
        settle(log, "nak", () => msg.nak(unknownRetryMs));
        return;
      }
      untrusted.drop(untrustedBy, row, msg.subject, { streamSeq: info.streamSequence });
      // Terminated like a malformed message: settled for good, not redelivered.
      settle(log, "term", () => msg.term());
      return;
    }
    const at = performance.now();
    lastArrival = at;
    const p: Pending = { msg, row, at, touched: at, seq: info.streamSequence };
    buffer.push(p);
    if (indexed) held.set(p.seq, p);
    const wasBacklogged = backlog > 0;
    backlog = info.pending;
    // Wake the flusher to (re)compute its deadline: a first message, a full batch, or a backlog just drained
    // (the deadline shrinks from backlogFlushMs to flushMs).
    if (buffer.length === 1 || buffer.length >= batchSize || (wasBacklogged && backlog === 0)) flushTimer.wake();
  }

  /**
   * A redelivery of a message held here or just acked: dropped (counted). A held one keeps its first
   * delivery, whose ack or in-progress ack settles the copy too; its ack wait runs from the redelivery now,
   * and the progress loop, which goes by the first delivery's times, touches it again in time. A
   * just-acked one is acked again (its first ack may have crossed the redelivery).
   */
  function isCopy(msg: JsMsg, seq: number): boolean {
    if (!indexed) {
      for (const p of inFlight) held.set(p.seq, p);
      for (const p of buffer) held.set(p.seq, p);
      indexed = true;
    }
    if (held.has(seq)) {
      stats.redeliveredCopies++;
      return true;
    }
    recentlyAcked ??= new Set(recentBatches.flat());
    if (recentlyAcked.has(seq)) {
      stats.redeliveredCopies++;
      settle(log, "ack", () => msg.ack());
      return true;
    }
    return false;
  }

  /** Forgets held messages that were settled (acked, nak'ed or terminated). */
  function release(batch: readonly Pending[]): void {
    if (!indexed) return;
    for (const p of batch) held.delete(p.seq);
    if (held.size === 0) indexed = false;
  }

  let consecutiveFailures = 0;

  /**
   * After ClickHouse refused a batch as data: inserts it again in halves, down to single rows, to
   * find the rows it refuses. Stops at the first failure that is not about data (ClickHouse went
   * away), leaving the rest as `unsent`. Halves are tried left first, so `stored` keeps batch order.
   */
  async function isolateRejected(
    batch: Pending[],
  ): Promise<{ stored: Pending[]; refused: { p: Pending; err: unknown }[]; unsent: Pending[]; err?: unknown }> {
    const stored: Pending[] = [];
    const refused: { p: Pending; err: unknown }[] = [];
    const parts = [batch.slice(0, batch.length >> 1), batch.slice(batch.length >> 1)];
    while (parts.length > 0) {
      const part = parts.shift()!;
      try {
        stats.inserts++;
        await store.insertResults(part.map((p) => p.row));
        stored.push(...part);
      } catch (err) {
        if (!isDataRejection(err)) return { stored, refused, unsent: [...part, ...parts.flat()], err };
        if (part.length === 1) refused.push({ p: part[0]!, err });
        else parts.unshift(part.slice(0, part.length >> 1), part.slice(part.length >> 1));
      }
    }
    return { stored, refused, unsent: [] };
  }

  /** Backs off after a failed insert: `batch` and everything buffered go back to the server for redelivery. */
  async function retryLater(batch: Pending[], err: unknown, why: string): Promise<void> {
    stats.insertFailures++;
    consecutiveFailures++;
    const delay = retry.delay(consecutiveFailures);
    log.warn({ err, rows: batch.length, failures: stats.insertFailures, retryInMs: delay }, why);
    // Everything buffered goes back too: held through several backoffs it would outlive ack_wait and be
    // redelivered while still queued here.
    const back = [...batch, ...buffer.splice(0)];
    for (const p of back) settle(log, "nak", () => p.msg.nak(delay));
    release(back);
    inFlight = [];
    if (!stopping) await backoffTimer.nap(delay);
  }

  async function insertBatch(batch: Pending[]): Promise<boolean> {
    inFlight = batch;
    stats.inserts++;
    stats.largestBatch = Math.max(stats.largestBatch, batch.length);
    let stored = batch;
    try {
      await store.insertResults(batch.map((p) => p.row));
    } catch (err) {
      if (!isDataRejection(err) || batch.length === 1) {
        await retryLater(batch, err, "insert failed; messages nak'ed for redelivery");
        return false;
      }
      const found = await isolateRejected(batch);
      if (found.stored.length === 0) {
        // Every row refused on its own: more likely the table than the data (a schema out of step).
        // Nothing is thrown away without a row of the same batch proving the table takes rows.
        await retryLater(
          [...found.refused.map((r) => r.p), ...found.unsent],
          found.err ?? err,
          "ClickHouse refuses every row of the batch; messages nak'ed for redelivery",
        );
        return false;
      }
      for (const { p, err: refusal } of found.refused) {
        stats.rejected++;
        log.error(
          {
            subject: p.msg.subject,
            streamSeq: p.msg.info.streamSequence,
            checkId: p.row.checkId,
            resultId: p.row.id,
            problem: refusal instanceof Error ? refusal.message : String(refusal),
          },
          "ClickHouse refused this result's values while storing the rest of its batch; terminated",
        );
        settle(log, "term", () => p.msg.term());
      }
      release(found.refused.map((r) => r.p));
      stored = found.stored;
      if (found.unsent.length > 0) {
        await ackStored(stored);
        await retryLater(found.unsent, found.err, "insert failed; messages nak'ed for redelivery");
        return false;
      }
    }
    await ackStored(stored);
    return true;
  }

  async function ackStored(batch: Pending[]): Promise<void> {
    const rows = batch.map((p) => p.row);
    if (consecutiveFailures > 0) log.info({ afterFailures: consecutiveFailures }, "inserts recovered");
    consecutiveFailures = 0;
    for (const p of batch) settle(log, "ack", () => p.msg.ack());
    release(batch);
    recentBatches.push(batch.map((p) => p.seq));
    recentCount += batch.length;
    while (recentCount - recentBatches[0]!.length >= 4 * maxAckPending) recentCount -= recentBatches.shift()!.length;
    recentlyAcked = undefined;
    inFlight = [];
    stats.inserted += rows.length;
    stats.lastInsertAt = now();
    if (onStored) {
      try {
        await onStored(rows);
      } catch (err) {
        log.error({ err, rows: rows.length }, "onStored hook failed");
      }
    }
  }

  /**
   * The adaptive batch rule. One insert at a time; while it runs, the next batch accumulates. A batch
   * is sent when it holds batchSize rows, or when its oldest row has waited backlogFlushMs, or, while
   * the consumer is caught up (the last message said nothing more is pending), when no message has
   * arrived for flushMs (a batch of fewer than QUIET_FLUSH_ROWS rows) or busyFlushMs (a bigger one).
   * Idle: a lone result is stored ~flushMs after it arrives; the last result of a burst ~busyFlushMs
   * after. A steady high rate or a backlog: batches grow to batchSize (or whatever arrives within
   * backlogFlushMs), so ClickHouse sees about one large insert a second, not one per insert latency.
   */
  async function flushLoop(): Promise<void> {
    try {
      await flushUntilStopped();
    } finally {
      flushed = true;
      progressTimer.wake();
    }
  }

  async function flushUntilStopped(): Promise<void> {
    for (;;) {
      if (stopping) {
        // The insert in flight (if any) has finished: hand the rest back at once so another replica (or
        // our next start) takes them without waiting for ackWaitMs.
        const rest = buffer.splice(0);
        stats.nakedOnStop += rest.length;
        for (const p of rest) settle(log, "nak", () => p.msg.nak());
        release(rest);
        return;
      }
      if (buffer.length === 0) {
        await flushTimer.nap(1_000);
        continue;
      }
      const t = performance.now();
      const waitForFull = backlogFlushMs - (t - (buffer[0]?.at ?? t));
      // Caught up: also sent once the flow pauses (flushMs for a few rows, busyFlushMs while results
      // flow). Under a backlog, gaps between deliveries are round trips, not pauses.
      const quietMs = buffer.length < QUIET_FLUSH_ROWS ? flushMs : busyFlushMs;
      const wait = backlog > 0 ? waitForFull : Math.min(waitForFull, quietMs - (t - lastArrival));
      if (buffer.length < batchSize && wait > 0) {
        await flushTimer.nap(wait);
        continue;
      }
      if (buffer.length < batchSize && waitForFull > 0) {
        // A pause, seen from a timer: after a stall of this process the timer fires before the socket's
        // data is read, so let I/O run once before calling it a pause (a message may be waiting).
        const seen = lastArrival;
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (lastArrival !== seen || stopping) continue;
      }
      await insertBatch(buffer.splice(0, batchSize));
    }
  }

  /**
   * Keeps held messages from being redelivered: a message buffered or in an insert for progressMs gets
   * an in-progress ack, which restarts its ack wait. A short ackWaitMs then bounds only how long a
   * killed replica's messages wait, never a slow insert.
   */
  async function progressLoop(): Promise<void> {
    // Runs until the flusher is done: an insert still in flight during stop() keeps its messages.
    while (!flushed) {
      await progressTimer.nap(Math.min(progressMs / 2, PROGRESS_CHECK_MS));
      const cutoff = performance.now() - progressMs;
      const t = performance.now();
      for (const list of [inFlight, buffer]) {
        for (const p of list) {
          if (p.touched > cutoff) continue;
          p.touched = t;
          stats.progressAcks++;
          settle(log, "working", () => p.msg.working());
        }
      }
    }
  }

  async function ensureResultsConsumer(): Promise<void> {
    const jsm = await jetstreamManager(nc);
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: RESULTS_SUBJECT_ALL,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: maxAckPending,
      max_deliver: -1,
    };
    await ensureConsumer(jsm, {
      stream: RESULTS_STREAM,
      config,
      updatable: ["ack_wait", "max_ack_pending", "max_deliver"],
    });
  }

  /** Keeps a consume() running until stop(); re-creates it if the server side went away. */
  async function consumeLoop(): Promise<void> {
    const js = jetstream(nc);
    while (!stopping) {
      try {
        const consumer = await js.consumers.get(RESULTS_STREAM, durable);
        // 5 s pulls (heartbeat 2.5 s): after the consumer leader's node dies, the next pull reaches the new leader within seconds, not 30.
        messages = await consumer.consume({
          max_messages: Math.min(batchSize, maxAckPending),
          expires: 5000,
          callback: receive,
        });
        if (stopping) {
          // stop() ran while we were (re)connecting and found nothing to close.
          await messages.close();
          return;
        }
        void (async () => {
          for await (const s of messages.status()) {
            if (
              s.type === "heartbeats_missed" ||
              s.type === "consumer_not_found" ||
              s.type === "stream_not_found" ||
              s.type === "consumer_deleted"
            ) {
              log.warn({ status: s.type }, "results consumer status");
            }
          }
        })().catch(() => undefined);
        const ended = await messages.closed();
        if (stopping) return;
        log.warn({ err: ended }, "results consumer ended; restarting");
      } catch (err) {
        if (stopping) return;
        log.warn({ err }, "results consumer failed; retrying");
      }
      await retryTimer.nap(1_000);
      if (!stopping)
        await ensureResultsConsumer().catch((err: unknown) =>
          log.warn({ err }, "could not re-create results consumer"),
        );
    }
  }

  return {
    async start() {
      if (running) return;
      await ensureResultsConsumer();
      running = true;
      stopping = false;
      flushed = false;
      log.info(
        { durable, batchSize, flushMs, busyFlushMs, backlogFlushMs, maxAckPending, ackWaitMs },
        "ingest started",
      );
      loops = Promise.all([consumeLoop(), flushLoop(), progressLoop()]).then(() => undefined);
    },

    async stop() {
      if (!running) return;
      stopping = true;
      try {
        await messages?.close();
      } catch (err) {
        log.debug({ err }, "closing the results consumer");
      }
      flushTimer.wake();
      retryTimer.wake();
      backoffTimer.wake();
      progressTimer.wake();
      await loops;
      // Acks and naks are fire-and-forget publishes: get them to the server before the caller closes nc.
      await nc.flush().catch((err: unknown) => log.debug({ err }, "flushing acks on stop"));
      running = false;
      log.info({ ...stats, untrusted: untrusted.counts() }, "ingest stopped");
    },

    stats: () => ({ ...stats, untrusted: untrusted.counts(), pending: buffer.length + inFlight.length }),
  };
}
