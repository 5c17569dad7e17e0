import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { UnavailableError } from "../errors.js";
import { ensureStream } from "../jetstream/ensure.js";
import type { DeliveryRecord } from "./types.js";

/** JetStream stream holding every delivery attempt's record. */
export const HOOK_LOG_STREAM = "PROBEMESH_HOOK_LOG";
/** Subject prefix of the log; full subject `probemesh.hooks.log.<hookId>`. */
export const HOOK_LOG_SUBJECT_PREFIX = "probemesh.hooks.log";

/**
 * A delivery record as read-scoped readers see it (GET /v1/deliveries, `delivery` events on GET
 * /v1/events): what happened, never where or with what. A record holds no URL, header or secret,
 * but its `error` and `result` texts may echo a receiver's address (a fetch error names the host; an
 * action names its DNS server or socket), so they are left out; the admin GET /v1/hooks/{id}/deliveries
 * has them. Built field by field, so a field added to the record stays private until named here.
 */
export function redactDelivery(r: DeliveryRecord) {
  return {
    hookId: r.hookId,
    eventId: r.eventId,
    eventType: r.eventType,
    checkId: r.checkId,
    deliveryId: r.deliveryId,
    attempt: r.attempt,
    outcome: r.outcome,
    ...(r.status === undefined ? {} : { status: r.status }),
    latencyMs: r.latencyMs,
    at: r.at,
    ...(r.retryAt === undefined ? {} : { retryAt: r.retryAt }),
  };
}

/** Options of {@link ensureHookLogStream}. */
export interface HookLogStreamOptions {
  /** Records kept per hook (oldest dropped first). @default 1000 */
  maxPerHook?: number;
  /** Records older than this are dropped. @default 2592000000 (30 days) */
  maxAgeMs?: number;
  /** Copies of the stream in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
}

/** Creates (or updates) the log stream. */
export async function ensureHookLogStream(jsm: JetStreamManager, opts: HookLogStreamOptions = {}): Promise<void> {
  await ensureStream(jsm, {
    name: HOOK_LOG_STREAM,
    settings: {
      subjects: [`${HOOK_LOG_SUBJECT_PREFIX}.>`],
      max_msgs_per_subject: opts.maxPerHook ?? 1000,
      max_age: (opts.maxAgeMs ?? 30 * 86_400_000) * 1_000_000,
      num_replicas: opts.replicas ?? 1,
    },
  });
}

/** Where delivery records go; queryable per hook, newest last. */
export interface DeliveryLog {
  record(entry: DeliveryRecord): Promise<void>;
  /** The last `limit` records of a hook, oldest first. */
  list(hookId: string, opts?: { limit?: number }): Promise<DeliveryRecord[]>;
}

/** A {@link DeliveryLog} on the {@link HOOK_LOG_STREAM} stream (shared by replicas). */
export function createJetStreamDeliveryLog({ js, jsm }: { js: JetStreamClient; jsm: JetStreamManager }): DeliveryLog {
  return {
    async record(entry) {
      await js.publish(`${HOOK_LOG_SUBJECT_PREFIX}.${entry.hookId}`, JSON.stringify(entry));
    },
    async list(hookId, opts = {}) {
      const limit = Math.max(1, Math.min(opts.limit ?? 100, 1000));
      const subject = `${HOOK_LOG_SUBJECT_PREFIX}.${hookId}`;
      try {
        const info = await jsm.streams.info(HOOK_LOG_STREAM, { subjects_filter: subject });
        const total = info.state.subjects?.[subject] ?? 0;
        if (total === 0) return [];
        const skip = Math.max(0, total - limit);
        const out: DeliveryRecord[] = [];
        // An ordered (ephemeral) consumer filtered on the hook's subject reads its records in order.
        const consumer = await js.consumers.get(HOOK_LOG_STREAM, {
          filter_subjects: subject,
          deliver_policy: DeliverPolicy.All,
        });
        let seen = 0;
        while (seen < total) {
          const batch = await consumer.fetch({ max_messages: Math.min(total - seen, 256), expires: 2000 });
          let got = 0;
          for await (const m of batch) {
            got++;
            if (seen++ >= skip) out.push(m.json<DeliveryRecord>());
            if (seen >= total) break;
          }
          if (got === 0) break;
        }
        await consumer.delete().catch(() => undefined);
        return out;
      } catch (err) {
        throw new UnavailableError(
          `delivery log (JetStream) failed: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
    },
  };
}

/** An in-memory {@link DeliveryLog}, for tests. */
export function createMemoryDeliveryLog(): DeliveryLog & { all(): DeliveryRecord[] } {
  const entries: DeliveryRecord[] = [];
  return {
    record: async (e) => void entries.push(e),
    list: async (hookId, opts = {}) => entries.filter((e) => e.hookId === hookId).slice(-(opts.limit ?? 100)),
    all: () => [...entries],
  };
}
