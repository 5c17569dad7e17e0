// A partition's results, straight from JetStream: an ordered (ephemeral, unacked) consumer per
// decider, starting at a point in time, so deciding never waits on storage.
import { DeliverPolicy, jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { RESULTS_STREAM, partitionResultsFilter } from "@probemesh/proto";
import type { Logger } from "pino";

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
/** Wait between attempts to re-create a feed's consumer (e.g. while the stream elects a leader). */
const FEED_REOPEN_RETRY_MS = 1000;

/**
 * {@link OpenFeed} on the results stream of `nc`, with an ordered consumer. The client re-creates an
 * ordered consumer only when it learns that it is gone; when the NATS node holding it is killed,
 * its info requests just time out and the feed stalls (seen in test/faults/nats-cluster.test.ts).
 * So on missed heartbeats the feed re-creates its consumer itself, from the stream sequence after
 * the last message it delivered (the new consumer lands on a live node), skipping anything already
 * delivered.
 */
export function jetStreamFeed(nc: NatsConnection, log: Logger): OpenFeed {
  return async (req, handlers) => {
    const js = jetstream(nc);
    let lastSeq = 0;
    let stopped = false;
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
          if (m.info.streamSequence <= lastSeq) return; // already delivered by the consumer this one replaced
          lastSeq = m.info.streamSequence;
          handlers.message({ subject: m.subject, data: m.data });
          if (m.info.pending === 0) catchUp();
        },
      });
    let reopening = false;
    const reopen = async () => {
      if (reopening) return;
      reopening = true;
      try {
        await messages?.close().catch(() => undefined);
        while (!stopped) {
          try {
            const next = await consume(await open());
            if (stopped) {
              await next.close().catch(() => undefined);
              return;
            }
            messages = next;
            watch(next);
            log.info({ partition: req.partition, fromSeq: lastSeq + 1 }, "partition results feed re-created");
            return;
          } catch (err) {
            log.warn(
              { partition: req.partition, err },
              "partition results feed: re-creating the consumer failed; retrying",
            );
            await new Promise((r) => setTimeout(r, FEED_REOPEN_RETRY_MS));
          }
        }
      } finally {
        reopening = false;
      }
    };
    const watch = (m: ConsumerMessages) =>
      void (async () => {
        for await (const s of m.status())
          if (s.type === "heartbeats_missed" || s.type === "stream_not_found" || s.type === "consumer_not_found") {
            log.warn({ partition: req.partition, status: s.type }, "partition results feed status");
            if (s.type === "heartbeats_missed" && m === messages && !stopped) void reopen();
          }
      })().catch(() => undefined);

    const consumer = await open();
    // What the consumer had to deliver when it was created: nothing means caught up at once.
    const info = await consumer.info(true);
    if (info.num_pending === 0) catchUp();
    let messages: ConsumerMessages | undefined = await consume(consumer);
    watch(messages);
    return {
      async stop() {
        stopped = true;
        const m = messages;
        messages = undefined;
        await m?.close().catch(() => undefined);
      },
    };
  };
}
