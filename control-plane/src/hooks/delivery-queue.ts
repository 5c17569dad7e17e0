import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
} from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { FENCE_HEADER, type PartitionLease } from "../cluster/types.js";
import { ensureConsumer, ensureStream } from "../jetstream/ensure.js";
import { formatFence } from "./fence.js";
import type { HookEvent } from "./types.js";

/** JetStream work-queue stream of pending deliveries (one message per event and hook). */
export const DELIVERIES_STREAM = "PROBEMESH_HOOK_DELIVERIES";
/** Subject prefix; full subject `probemesh.hooks.deliver.<hookId>`. */
export const DELIVERIES_SUBJECT_PREFIX = "probemesh.hooks.deliver";
/** Durable pull consumer shared by every control-plane replica. */
export const DELIVERIES_CONSUMER = "hook-deliveries";
/** JetStream stream of queue messages the worker refused (malformed, unknown hook or check). */
export const DEAD_LETTERS_STREAM = "PROBEMESH_HOOK_DEAD_LETTERS";
/** Subject prefix; full subject `probemesh.hooks.dead.<reason>`. */
export const DEAD_LETTERS_SUBJECT_PREFIX = "probemesh.hooks.dead";
/** Claims of deliveries (one per `webhook-id` within the dedupe window): which queue message attempts it. */
export const CLAIMS_STREAM = "PROBEMESH_HOOK_CLAIMS";
/** Subject prefix; full subject `probemesh.hooks.claim.<hookId>`. */
export const CLAIMS_SUBJECT_PREFIX = "probemesh.hooks.claim";
/** Why a queue message was dead-lettered. */
export type DeadLetterReason = "malformed" | "unknown_hook" | "unknown_check" | "subject_mismatch";

/** A refused queue message as kept in {@link DEAD_LETTERS_STREAM}, for an operator to inspect. */
export interface DeadLetter {
  reason: DeadLetterReason;
  /** What exactly was wrong. */
  detail: string;
  /** Subject and stream sequence of the refused message. */
  subject: string;
  seq: number;
  /** Epoch ms of the refusal. */
  at: number;
  /** The message as received (UTF-8, cut to 64 KiB). */
  payload: string;
}

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
  /**
   * Redelivery delay of a message whose replica died or froze holding it (alive replicas extend it every
   * second while working): short, so a frozen replica's deliveries go to another one within seconds,
   * before the target's state can change again. @default 5000
   */
  ackWaitMs?: number;
  /** Dead letters older than this are dropped. @default 2592000000 (30 days) */
  deadLetterMaxAgeMs?: number;
  /** Copies of the queue and dead-letter streams in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
}

/** The delivery consumer's default ack wait ({@link DeliveryStreamOptions.ackWaitMs}). */
export const DELIVERY_ACK_WAIT_MS = 5000;

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
      num_replicas: opts.replicas ?? 1,
    },
    createOnly: { retention: RetentionPolicy.Workqueue },
  });
  await ensureConsumer(jsm, {
    stream: DELIVERIES_STREAM,
    config: {
      durable_name: DELIVERIES_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: (opts.ackWaitMs ?? DELIVERY_ACK_WAIT_MS) * 1_000_000,
      max_deliver: -1,
      max_ack_pending: 10_000,
    },
    updatable: ["ack_wait", "max_ack_pending"],
  });
  // One claim per delivery id within the dedupe window: copies of one delivery enqueued under
  // different epochs (distinct message ids) are attempted once.
  await ensureStream(jsm, {
    name: CLAIMS_STREAM,
    settings: {
      subjects: [`${CLAIMS_SUBJECT_PREFIX}.>`],
      duplicate_window: (opts.dedupeWindowMs ?? 3_600_000) * 1_000_000,
      max_age: (opts.dedupeWindowMs ?? 3_600_000) * 1_000_000,
      num_replicas: opts.replicas ?? 1,
    },
  });
  await ensureStream(jsm, {
    name: DEAD_LETTERS_STREAM,
    settings: {
      subjects: [`${DEAD_LETTERS_SUBJECT_PREFIX}.>`],
      max_msgs: 10_000,
      max_age: (opts.deadLetterMaxAgeMs ?? 30 * 86_400_000) * 1_000_000,
      num_replicas: opts.replicas ?? 1,
    },
  });
}

/** Keeps a refused queue message in {@link DEAD_LETTERS_STREAM}. */
export async function publishDeadLetter(js: JetStreamClient, d: DeadLetter): Promise<void> {
  await js.publish(`${DEAD_LETTERS_SUBJECT_PREFIX}.${d.reason}`, JSON.stringify(d));
}

/**
 * Enqueues one delivery; false when JetStream dropped it as a duplicate of an earlier enqueue.
 * `fence`: the partition lease the event was decided under, sent as the `Probemesh-Fence` header.
 * The message id carries the fence's epoch: a stale owner's copy of an event can never make the
 * new owner's copy a duplicate (the worker attempts one copy per delivery id: {@link claimDelivery}).
 */
export async function enqueueDelivery(
  js: JetStreamClient,
  d: QueuedDelivery,
  fence?: PartitionLease,
): Promise<boolean> {
  const id = deliveryId(d.event.id, d.hookId);
  const msgID = fence ? `${id}:${fence.epoch}` : id;
  let opts: Partial<JetStreamPublishOptions> = { msgID };
  if (fence) {
    const h = headers();
    h.set(FENCE_HEADER, formatFence(fence));
    opts = { msgID, headers: h };
  }
  const ack = await js.publish(`${DELIVERIES_SUBJECT_PREFIX}.${d.hookId}`, JSON.stringify(d), opts);
  return !ack.duplicate;
}

/**
 * Claims the attempts of delivery `id` for the queue message `seq`: "mine" when no other queue message
 * claimed it within the dedupe window (or this one did, on an earlier delivery of it), "other" when
 * another copy of the delivery (enqueued under another epoch, or unfenced at a restart) has it.
 */
export async function claimDelivery(
  js: JetStreamClient,
  hookId: string,
  id: string,
  seq: number,
): Promise<"mine" | "other"> {
  const ack = await js.publish(`${CLAIMS_SUBJECT_PREFIX}.${hookId}`, JSON.stringify({ seq }), { msgID: id });
  if (!ack.duplicate) return "mine";
  // A duplicate's ack names the claim JetStream kept.
  const kept = await (await js.jetstreamManager()).streams.getMessage(CLAIMS_STREAM, { seq: ack.seq });
  return kept?.json<{ seq?: unknown }>().seq === seq ? "mine" : "other";
}
