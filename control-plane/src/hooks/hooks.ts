import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { openKvBucket } from "../jetstream/kv.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { PartitionLease } from "../cluster/types.js";
import type { SecretBox } from "../trust/secret-box.js";
import { NotFoundError, UnavailableError, ValidationError } from "../errors.js";
import { createAdapters, type AdapterSet } from "./actions/index.js";
import { errorMessage } from "./actions/types.js";
import { deliveryId, enqueueDelivery, ensureDeliveryStream, type DeliveryStreamOptions } from "./delivery-queue.js";
import {
  createJetStreamDeliveryLog,
  ensureHookLogStream,
  type DeliveryLog,
  type HookLogStreamOptions,
} from "./delivery-log.js";
import {
  createDeliveryWorker,
  emptyDeliveryStats,
  type DeliveryStats,
  type DeliveryWorker,
  type DeliveryWorkerOptions,
  type KnownChecks,
} from "./delivery-worker.js";
import type { FenceJudge } from "./fence.js";
import { eventTime } from "./guardrails.js";
import { createKvHookStateStore, HOOK_STATE_BUCKET, type HookStateStore } from "./hook-state.js";
import { createKvHookRegistry, HOOKS_BUCKET, type HookRegistry } from "./registry.js";
import { wants, type LabelsOf } from "./subscription.js";
import type { DeliveryRecord, HookEvent } from "./types.js";
import { validateEvent } from "./validate-event.js";

/** Options of {@link createHooks}; every field has a default. */
export interface HooksOptions extends DeliveryWorkerOptions, DeliveryStreamOptions {
  /** Delivery log retention. */
  log?: HookLogStreamOptions;
  /** Replaces built-in adapters (tests). */
  adapters?: Partial<AdapterSet>;
  /** Run the delivery worker in this replica. @default true */
  deliver?: boolean;
  /** Copies of every hooks stream and KV bucket in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
}

/** Options of {@link Hooks.publish}. */
export interface PublishOptions {
  /**
   * The partition lease the event was decided under: every delivery carries it (`Probemesh-Fence`
   * header) and the delivery worker refuses it (`fenced`) if a newer lease had begun before it was
   * enqueued. @default unfenced (always delivered)
   */
  fence?: PartitionLease;
}

/** What `publish()` did with one event. */
export interface PublishResult {
  eventId: string;
  /** Hooks the event was enqueued for. */
  enqueued: string[];
  /** Hooks for which the same delivery was already enqueued (a replayed transition, or another replica). */
  duplicates: string[];
}

/** Counters of the hooks in this replica. */
export interface HooksStats extends DeliveryStats {
  published: number;
  /** Events refused by publish() as malformed. */
  rejectedEvents: number;
  enqueued: number;
  duplicates: number;
}

/** The failover hooks of one control-plane replica. */
export interface Hooks {
  /**
   * Fans one consensus transition out to every enabled hook subscribed to its type and check, as
   * durable deliveries. Idempotent: the same event id enqueues nothing new (JetStream dedupe window).
   * Rejects with ValidationError for a malformed event, UnavailableError when NATS could not take it
   * (safe to retry).
   */
  publish(event: HookEvent, opts?: PublishOptions): Promise<PublishResult>;
  /** Enqueues a test event for one hook (whatever its `events`); NotFoundError for an unknown hook. */
  test(hookId: string): Promise<{ eventId: string; deliveryId: string }>;
  /** Creates the streams, buckets and consumer if needed, and starts delivering. */
  start(): Promise<void>;
  /** Stops delivering (attempts in flight finish first). */
  stop(): Promise<void>;
  readonly registry: HookRegistry;
  readonly deliveries: DeliveryLog;
  readonly stats: HooksStats;
}

const noLabels: LabelsOf = () => undefined;

interface Parts {
  js: JetStreamClient;
  registry: HookRegistry;
  deliveries: DeliveryLog;
  state: HookStateStore;
}

/** Creates the hooks of one replica on NATS (`nc`): registry in KV, durable deliveries in JetStream. */
export function createHooks({
  nc,
  log,
  secrets,
  checks,
  labelsOf,
  fence,
  onDelivery,
  now = Date.now,
  options = {},
}: {
  nc: NatsConnection;
  log: Logger;
  /** Seals hook secrets at rest (PROBEMESH_SECRET_KEY). */
  secrets: SecretBox;
  /**
   * The check registry: a queued delivery whose check is neither in it nor known to the hooks'
   * state is dead-lettered. Without it, check ids of queued deliveries are not validated.
   */
  checks?: KnownChecks;
  /**
   * The labels of a check (or of one just deleted), for hooks with a `selector`. Without it, a hook
   * with a non-empty selector hears no check events.
   */
  labelsOf?: LabelsOf;
  /**
   * Judges fenced deliveries (`leases.fence`): one whose lease was stale when it was enqueued is not
   * attempted but recorded as `fenced`. @default every well-formed fence is current (one replica)
   */
  fence?: FenceJudge;
  /** Called with every delivery record once written to the log (metrics); must not throw. @default none */
  onDelivery?: (record: DeliveryRecord) => void;
  now?: () => number;
  options?: HooksOptions;
}): Hooks {
  const hlog = log.child({ component: "hooks" });
  let parts: Promise<Parts> | undefined;
  let worker: DeliveryWorker | undefined;
  let resealed = false;
  const counters = { published: 0, rejectedEvents: 0, enqueued: 0, duplicates: 0 };

  function setup(): Promise<Parts> {
    parts ??= (async () => {
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      await ensureDeliveryStream(jsm, options);
      const replicas = options.replicas ?? 1;
      await ensureHookLogStream(jsm, { replicas, ...options.log });
      const [hooksKv, stateKv] = await Promise.all([
        openKvBucket(nc, HOOKS_BUCKET, { history: 1, replicas }),
        openKvBucket(nc, HOOK_STATE_BUCKET, { history: 1, replicas }),
      ]);
      const deliveries = createJetStreamDeliveryLog({ js, jsm });
      return {
        js,
        registry: createKvHookRegistry({ kv: hooksKv, log: hlog, secrets, now }),
        deliveries: onDelivery
          ? { ...deliveries, record: (e: DeliveryRecord) => deliveries.record(e).then(() => onDelivery(e)) }
          : deliveries,
        state: createKvHookStateStore(stateKv, now),
      };
    })().catch((err: unknown) => {
      parts = undefined;
      throw new UnavailableError(`hooks storage (NATS JetStream) unavailable: ${errorMessage(err)}`, { cause: err });
    });
    return parts;
  }

  // The API may be used before start(): every call sets the storage up on first use.
  const registry: HookRegistry = {
    create: async (h) => (await setup()).registry.create(h),
    get: async (id) => (await setup()).registry.get(id),
    list: async () => (await setup()).registry.list(),
    replace: async (h, cond) => (await setup()).registry.replace(h, cond),
    delete: async (id, cond) => (await setup()).registry.delete(id, cond),
    disable: async (id, reason) => (await setup()).registry.disable(id, reason),
  };
  const deliveries: DeliveryLog = {
    record: async (e) => (await setup()).deliveries.record(e),
    list: async (id, o) => (await setup()).deliveries.list(id, o),
  };

  return {
    registry,
    deliveries,
    get stats() {
      return { ...(worker?.stats ?? emptyDeliveryStats()), ...counters };
    },
    async publish(input, opts = {}) {
      let event: HookEvent;
      try {
        event = validateEvent(input);
      } catch (err) {
        counters.rejectedEvents++;
        hlog.warn({ err: errorMessage(err) }, "refused a malformed hook event");
        throw err;
      }
      counters.published++;
      const p = await setup();
      if (event.type !== "test") {
        await p.state
          .recordCheckState(event.data.checkId, { state: event.data.state, at: eventTime(event) })
          .catch((err: unknown) =>
            hlog.warn({ err: errorMessage(err), checkId: event.data.checkId }, "could not record check state"),
          );
      }
      const targets = (await p.registry.list()).filter((r) => wants(r, event, labelsOf ?? noLabels));
      const result: PublishResult = { eventId: event.id, enqueued: [], duplicates: [] };
      const failed: string[] = [];
      await Promise.all(
        targets.map(async (r) => {
          try {
            const fresh = await enqueueDelivery(p.js, { hookId: r.hook.id, event, enqueuedAt: now() }, opts.fence);
            (fresh ? result.enqueued : result.duplicates).push(r.hook.id);
          } catch (err) {
            failed.push(r.hook.id);
            hlog.error({ err: errorMessage(err), hookId: r.hook.id, eventId: event.id }, "could not enqueue delivery");
          }
        }),
      );
      counters.enqueued += result.enqueued.length;
      counters.duplicates += result.duplicates.length;
      hlog.info(
        {
          eventId: event.id,
          type: event.type,
          checkId: event.data.checkId,
          enqueued: result.enqueued,
          duplicates: result.duplicates.length,
          ...(opts.fence ? { fence: opts.fence } : {}),
        },
        "hook event published",
      );
      if (failed.length > 0)
        throw new UnavailableError(
          `could not enqueue event ${event.id} for hooks ${failed.join(", ")}; publish again (deliveries are deduplicated)`,
        );
      return result;
    },
    async test(hookId) {
      const p = await setup();
      const rec = await p.registry.get(hookId);
      if (!rec) throw new NotFoundError("hook", hookId);
      if (rec.disabled)
        throw new ValidationError(
          `hook ${JSON.stringify(hookId)} is disabled (${rec.disabled.reason}); PUT it to enable it again`,
          { field: "id" },
        );
      const t = now();
      const event: HookEvent = {
        id: `test-${t}-${randomBytes(4).toString("hex")}`,
        type: "test",
        timestamp: new Date(t).toISOString(),
        data: {
          checkId: rec.hook.checks[0] ?? "test",
          state: "test",
          regions: {},
          reason: "test event sent from the API",
        },
      };
      await enqueueDelivery(p.js, { hookId, event, enqueuedAt: t });
      hlog.info({ hookId, eventId: event.id }, "test event enqueued");
      return { eventId: event.id, deliveryId: deliveryId(event.id, hookId) };
    },
    async start() {
      const p = await setup();
      if (!resealed) {
        resealed = true;
        await p.registry
          .reseal?.()
          .catch((err: unknown) => hlog.warn({ err: errorMessage(err) }, "could not seal stored hook secrets again"));
      }
      if (options.deliver === false || worker) return;
      worker = createDeliveryWorker({
        js: p.js,
        registry: p.registry,
        deliveryLog: p.deliveries,
        state: p.state,
        ...(checks ? { checks } : {}),
        ...(fence ? { fence } : {}),
        adapters: { ...createAdapters(), ...options.adapters },
        log: hlog,
        now,
        options,
      });
      await worker.start();
    },
    async stop() {
      const w = worker;
      worker = undefined;
      await w?.stop();
    },
  };
}
