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

/** {@link OpenFeed} on the results stream of `nc`, with an ordered consumer (it survives server restarts). */
export function jetStreamFeed(nc: NatsConnection, log: Logger): OpenFeed {
  return async (req, handlers) => {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(RESULTS_STREAM, {
      filter_subjects: feedSubject(req),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Math.max(0, req.since)).toISOString(),
    });
    // What the consumer had to deliver when it was created: nothing means caught up at once.
    const info = await consumer.info(true);
    let caughtUp = false;
    const catchUp = (): void => {
      if (caughtUp) return;
      caughtUp = true;
      handlers.caughtUp();
    };
    if (info.num_pending === 0) catchUp();
    let messages: ConsumerMessages | undefined = await consumer.consume({
      callback: (m) => {
        handlers.message({ subject: m.subject, data: m.data });
        if (m.info.pending === 0) catchUp();
      },
    });
    void (async () => {
      for await (const s of messages.status())
        if (s.type === "heartbeats_missed" || s.type === "stream_not_found" || s.type === "consumer_not_found")
          log.warn({ partition: req.partition, status: s.type }, "partition results feed status");
    })().catch(() => undefined);
    return {
      async stop() {
        const m = messages;
        messages = undefined;
        await m?.close().catch(() => undefined);
      },
    };
  };
}
