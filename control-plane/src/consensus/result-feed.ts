// A partition's results, straight from JetStream: an ordered (ephemeral, unacked) consumer per
// decider, starting at a point in time, so deciding never waits on storage.
import { performance } from "node:perf_hooks";
import { DeliverPolicy, jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { RESULTS_STREAM, partitionResultsFilter } from "@probemesh/proto";
import type { Logger } from "pino";
import { backoffPolicy } from "../backoff.js";
import { sleep } from "../sleep.js";

/** One message of the results stream. */
export interface FeedMessage {
  subject: string;
  data: Uint8Array;
}

/** What a feed calls, in stream order. */
export interface FeedHandlers {
  message(m: FeedMessage): void;
  /** Called once, after the last message that was in the stream when the feed opened. */
  caughtUp(): void;
}

/** Where a feed starts and what it reads. */
export interface FeedRequest {
  partition: number;
  /** Epoch ms: the first message delivered is the first published at or after it. */
  since: number;
}

/** An open feed. */
export interface Feed {
  stop(): Promise<void>;
}

/** Opens a feed; rejects when the consumer cannot be created. */
export type OpenFeed = (req: FeedRequest, handlers: FeedHandlers) => Promise<Feed>;

/** The filter subject of a feed: its partition's results only (one subject: servers before 2.10 take no list). */
export function feedSubject(req: Pick<FeedRequest, "partition">): string {
  return partitionResultsFilter(req.partition);
}

/** Idle heartbeat of a feed's pulls is half of this: a feed whose consumer is gone is noticed in about this long. */
const FEED_PULL_EXPIRES_MS = 5000;
/**
 * A feed that got no message and issued no pull for this long is stuck, and is re-created. An idle
 * healthy feed pulls every {@link FEED_PULL_EXPIRES_MS}. After a reconnect the client checks its
 * consumer with info requests before pulling again, and while the node holding the consumer is dead
 * it retries them for as long as they time out, with its heartbeat monitor off: no missed heartbeat
 * is ever reported (read in the client's code). One test/faults/nats-cluster.test.ts run showed it:
 * the owner of the check's partition, reconnected from the killed node, logged no missed heartbeat
 * and decided nothing for 2.5 min, past the node's restart. test/nats-node-kill.test.ts makes it happen
 * (the feed's node, holding its consumer, killed): this rule alone brings the feed back, in about 10 s.
 */
export const FEED_STALL_MS = 2 * FEED_PULL_EXPIRES_MS;
/**
 * Timeout of a feed's JetStream requests (stream info, consumer creation), instead of the client's
 * 5 s: after a NATS node is killed, a request that went to it (or to a stream still electing its
 * leader) is given up sooner and sent again, most likely to a node that answers.
 */
export const FEED_REQUEST_TIMEOUT_MS = 2000;
/**
 * Pauses between attempts to re-create a feed's consumer (e.g. while the stream elects a leader):
 * 200 ms doubling to 2 s, equal jitter, so 16 partitions' feeds do not retry in lockstep. An attempt
 * thus takes at most about 2 × {@link FEED_REQUEST_TIMEOUT_MS} + 2 s, against 11 s before.
 */
export const FEED_REOPEN_RETRY = backoffPolicy({ initialMs: 200, maxMs: 2000, jitter: "equal" });

/**
 * Why a feed's consumer was re-created: the client reported missed heartbeats (`heartbeats_missed`),
 * or the feed got no message and issued no pull for {@link FEED_STALL_MS} (`stalled`).
 */
export type FeedRecreateReason = "heartbeats_missed" | "stalled";

/** Counters of every feed one {@link jetStreamFeed} opened (read by GET /metrics). */
export interface ResultFeedStats {
  /** Re-creations of a feed's consumer begun, by why (each one retries until a consumer is created). */
  recreations: Record<FeedRecreateReason, number>;
}

/** Stats with every count at 0. */
export const emptyResultFeedStats = (): ResultFeedStats => ({ recreations: { heartbeats_missed: 0, stalled: 0 } });

/**
 * {@link OpenFeed} on the results stream of `nc`, with an ordered consumer. The client re-creates an
 * ordered consumer only when it learns that it is gone; when the NATS node holding it is killed,
 * its info requests just time out and the feed stalls (seen in test/faults/nats-cluster.test.ts).
 * So on missed heartbeats, or when it has neither received nor pulled for {@link FEED_STALL_MS}, the
 * feed re-creates its consumer itself, from the stream sequence after the last message it delivered
 * (the new consumer lands on a live node), skipping anything already delivered.
 */
export function jetStreamFeed(
  nc: NatsConnection,
  log: Logger,
  stats: ResultFeedStats = emptyResultFeedStats(),
): OpenFeed {
  return async (req, handlers) => {
    const js = jetstream(nc, { timeout: FEED_REQUEST_TIMEOUT_MS });
    let lastSeq = 0;
    let stopped = false;
    /** Local monotonic time of the last message or pull request of the current consumer. */
    let activeAt = performance.now();
    let caughtUp = false;
    const catchUp = (): void => {
      if (caughtUp) return;
      caughtUp = true;
      handlers.caughtUp();
    };
    const open = async () =>
      await js.consumers.get(RESULTS_STREAM, {
        filter_subjects: feedSubject(req),
        ...(lastSeq > 0
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }
          : {
              deliver_policy: DeliverPolicy.StartTime,
              opt_start_time: new Date(Math.max(0, req.since)).toISOString(),
            }),
      });
    const consume = async (consumer: Awaited<ReturnType<typeof open>>) =>
      await consumer.consume({
        expires: FEED_PULL_EXPIRES_MS,
        callback: (m) => {
          activeAt = performance.now();
          if (m.info.streamSequence <= lastSeq) return; // already delivered by the consumer this one replaced
          lastSeq = m.info.streamSequence;
          handlers.message({ subject: m.subject, data: m.data });
          if (m.info.pending === 0) catchUp();
        },
      });
    let reopening = false;
    const reopen = async (reason: FeedRecreateReason) => {
      if (reopening) return;
      reopening = true;
      stats.recreations[reason]++;
      try {
        await messages?.close().catch(() => undefined);
        const since = Date.now();
        for (let attempt = 1; !stopped; attempt++) {
          try {
            const next = await consume(await open());
            if (stopped) {
              await next.close().catch(() => undefined);
              return;
            }
            messages = next;
            activeAt = performance.now();
            watch(next);
            log.info(
              { partition: req.partition, fromSeq: lastSeq + 1, attempts: attempt, tookMs: Date.now() - since },
              "partition results feed re-created",
            );
            return;
          } catch (err) {
            log.warn(
              { partition: req.partition, attempt, err },
              "partition results feed: re-creating the consumer failed; retrying",
            );
            await sleep(FEED_REOPEN_RETRY.delay(attempt));
          }
        }
      } finally {
        reopening = false;
      }
    };
    const watch = (m: ConsumerMessages) =>
      void (async () => {
        for await (const s of m.status()) {
          if (s.type === "next" && m === messages) activeAt = performance.now();
          if (s.type === "heartbeats_missed" || s.type === "stream_not_found" || s.type === "consumer_not_found") {
            log.warn({ partition: req.partition, status: s.type }, "partition results feed status");
            if (s.type === "heartbeats_missed" && m === messages && !stopped) void reopen("heartbeats_missed");
          }
        }
      })().catch(() => undefined);

    const consumer = await open();
    // What the consumer had to deliver when it was created: nothing means caught up at once.
    const info = await consumer.info(true);
    if (info.num_pending === 0) catchUp();
    let messages: ConsumerMessages | undefined = await consume(consumer);
    watch(messages);
    activeAt = performance.now();
    const stallTimer = setInterval(() => {
      const idleMs = performance.now() - activeAt;
      if (stopped || reopening || !messages || idleMs < FEED_STALL_MS) return;
      log.warn({ partition: req.partition, idleMs: Math.round(idleMs) }, "partition results feed stalled; re-creating");
      void reopen("stalled");
    }, 1000);
    stallTimer.unref();
    return {
      async stop() {
        stopped = true;
        clearInterval(stallTimer);
        const m = messages;
        messages = undefined;
        await m?.close().catch(() => undefined);
      },
    };
  };
}
