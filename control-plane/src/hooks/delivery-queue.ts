import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { ensureConsumer, ensureStream } from "../jetstream/ensure.js";
import type { HookEvent } from "./types.js";

/** JetStream work-queue stream of pending deliveries (one message per event and hook). */
export const DELIVERIES_STREAM = "PROBEMESH_HOOK_DELIVERIES";
/** Subject prefix; full subject `probemesh.hooks.deliver.<hookId>`. */
export const DELIVERIES_SUBJECT_PREFIX = "probemesh.hooks.deliver";
/** Durable pull consumer shared by every control-plane replica. */
export const DELIVERIES_CONSUMER = "hook-deliveries";

/** A queued delivery. */
export interface QueuedDelivery {
  hookId: string;
  event: HookEvent;
  /** Epoch ms of the enqueue: the delivery deadline counts from here. */
  enqueuedAt: number;
}

/** Options of {@link ensureDeliveryStream}. */
export interface DeliveryStreamOptions {
  /** Window in which the same `${eventId}:${hookId}` is enqueued only once. @default 3600000 (1 h) */
  dedupeWindowMs?: number;
  /** Pending deliveries older than this are dropped by the server (keep above every hook's deadline). @default 604800000 (7 days) */
  maxAgeMs?: number;
  /** Redelivery delay of a message whose replica died mid-attempt (alive replicas extend it while working). @default 30000 */
  ackWaitMs?: number;
}

/** The id of one event's delivery to one hook: JetStream msgID and the `webhook-id` header. */
export function deliveryId(eventId: string, hookId: string): string {
  return `${eventId}:${hookId}`;
}

/** Creates (or updates) the work-queue stream and its durable consumer. */
export async function ensureDeliveryStream(jsm: JetStreamManager, opts: DeliveryStreamOptions = {}): Promise<void> {
  await ensureStream(jsm, {
    name: DELIVERIES_STREAM,
    settings: {
      subjects: [`${DELIVERIES_SUBJECT_PREFIX}.>`],
      duplicate_window: (opts.dedupeWindowMs ?? 3_600_000) * 1_000_000,
      max_age: (opts.maxAgeMs ?? 7 * 86_400_000) * 1_000_000,
    },
    createOnly: { retention: RetentionPolicy.Workqueue },
  });
  await ensureConsumer(jsm, {
    stream: DELIVERIES_STREAM,
    config: {
      durable_name: DELIVERIES_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: (opts.ackWaitMs ?? 30_000) * 1_000_000,
      max_deliver: -1,
      max_ack_pending: 10_000,
    },
    updatable: ["ack_wait", "max_ack_pending"],
  });
}

/** Enqueues one delivery; false when JetStream dropped it as a duplicate of an earlier enqueue. */
export async function enqueueDelivery(js: JetStreamClient, d: QueuedDelivery): Promise<boolean> {
  const ack = await js.publish(`${DELIVERIES_SUBJECT_PREFIX}.${d.hookId}`, JSON.stringify(d), {
    msgID: deliveryId(d.event.id, d.hookId),
  });
  return !ack.duplicate;
}
