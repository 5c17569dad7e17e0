import type { JetStreamManager } from "@nats-io/jetstream";
import { RESULTS_STREAM } from "@probemesh/proto";
import { DELIVERIES_CONSUMER, DELIVERIES_STREAM } from "../hooks/delivery-queue.js";

/** The ingest's durable consumer (IngestOptions.durable's default). */
const INGEST_CONSUMER = "probemesh-ingest";
/** A scrape never waits longer than this for NATS. */
const INFO_TIMEOUT_MS = 2000;

/**
 * Messages waiting in the ingest consumer (not yet delivered: the lag) or in the hook queue (not
 * yet delivered or in flight), read from JetStream at scrape time; undefined when NATS does not
 * answer in time (the gauge then has no series).
 */
export function consumerPending(jsm: JetStreamManager): (which: "ingest" | "hooks") => Promise<number | undefined> {
  return async (which) => {
    const [stream, consumer] =
      which === "ingest" ? [RESULTS_STREAM, INGEST_CONSUMER] : [DELIVERIES_STREAM, DELIVERIES_CONSUMER];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const info = await Promise.race([
        jsm.consumers.info(stream, consumer),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("timeout")), INFO_TIMEOUT_MS);
        }),
      ]);
      return info.num_pending + (which === "hooks" ? info.num_ack_pending : 0);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
}
