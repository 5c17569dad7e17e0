import { randomBytes } from "node:crypto";
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { backoffPolicy, type BackoffOptions } from "../backoff.js";
import { sleep } from "../sleep.js";
import type { AdapterSet } from "./actions/index.js";
import { directionOf, errorMessage } from "./actions/types.js";
import { SecretBoxError } from "../trust/secret-box.js";
import {
  claimDelivery,
  DELIVERIES_CONSUMER,
  DELIVERIES_STREAM,
  DELIVERIES_SUBJECT_PREFIX,
  DELIVERY_ACK_WAIT_MS,
  deliveryId,
  publishDeadLetter,
  type DeadLetter,
  type DeadLetterReason,
  type DeliveryStreamOptions,
  type QueuedDelivery,
} from "./delivery-queue.js";
import type { DeliveryLog } from "./delivery-log.js";
import { checkFence, type FenceJudge } from "./fence.js";
import { FENCE_HEADER } from "../cluster/types.js";
import { decide, eventTime } from "./guardrails.js";
import type { HookStateStore } from "./hook-state.js";
import type { HookRegistry } from "./registry.js";
import { watchStalls, type StallWatch } from "./stall-watch.js";
import { wants } from "./subscription.js";
import { validateEvent } from "./validate-event.js";
import { ACTION_HOOK_TYPES, type ActionResult, type DeliveryOutcome, type DeliveryRecord, type Hook } from "./types.js";

/** Retries of a failed delivery: 1 s doubling to 5 min, equal jitter so hooks that failed together spread out. */
export const HOOK_RETRY: Omit<BackoffOptions, "random"> = { initialMs: 1000, maxMs: 300_000, jitter: "equal" };

/** Options of {@link createDeliveryWorker}. */
export interface DeliveryWorkerOptions extends Pick<DeliveryStreamOptions, "ackWaitMs"> {
  /** Deliveries attempted at once by this replica. @default 8 */
  concurrency?: number;
  /** Retry policy of failed attempts (its `random` is the worker's). @default {@link HOOK_RETRY} */
  backoff?: Omit<BackoffOptions, "random">;
  /** How often a delivery being handled tells JetStream it is still working (keep well below the consumer's ack wait). @default 1000 */
  heartbeatMs?: number;
  /** How long one pull waits for new deliveries (also bounds how long stop() waits). @default 5000 */
  fetchExpiresMs?: number;
}

/** Delivery counters before anything happened. */
export function emptyDeliveryStats(): DeliveryStats {
  return {
    delivered: 0,
    failedAttempts: 0,
    gaveUp: 0,
    refused: 0,
    held: 0,
    superseded: 0,
    disabled: 0,
    skipped: 0,
    dryRun: 0,
    malformed: 0,
    deadLettered: 0,
    logErrors: 0,
    waitedForLease: 0,
    fenced: 0,
    duplicates: 0,
    stalled: 0,
  };
}

/** Counters of one replica's worker. */
export interface DeliveryStats {
  delivered: number;
  failedAttempts: number;
  gaveUp: number;
  refused: number;
  held: number;
  superseded: number;
  disabled: number;
  skipped: number;
  dryRun: number;
  /** Queue messages that could not be parsed (dead-lettered). */
  malformed: number;
  /** Queue messages refused and moved to the dead letters (malformed ones included). */
  deadLettered: number;
  /** Outcomes that could not be written to the delivery log (the message is then retried). */
  logErrors: number;
  /** Times a delivery waited because another action of the same hook and check was running. */
  waitedForLease: number;
  /** Deliveries refused because their partition lease was stale when they were enqueued (recorded `fenced`). */
  fenced: number;
  /** Copies of a delivery another queue message had claimed (recorded `duplicate`, not attempted). */
  duplicates: number;
  /**
   * Deliveries this replica held while it stood still (stopped, paused, its event loop blocked) for
   * half the ack wait or more: not attempted, left to JetStream's redelivery (nothing recorded).
   */
  stalled: number;
}

// A lease outlives the attempt it guards by this much (recording the outcome included).
const LEASE_MARGIN_MS = 5000;

/** The delivery loop of one replica. */
export interface DeliveryWorker {
  start(): Promise<void>;
  /** Stops pulling and waits for attempts in flight. */
  stop(): Promise<void>;
  readonly stats: DeliveryStats;
}

/** The check registry as the worker asks it: does a check exist? */
export interface KnownChecks {
  get(id: string): Promise<{ check?: { name?: string } } | undefined>;
}

/** Dependencies of {@link createDeliveryWorker}. */
export interface DeliveryWorkerDeps {
  js: JetStreamClient;
  registry: HookRegistry;
  /**
   * When given, a delivery whose check is neither in the registry nor known to the hook state (every
   * event the control plane publishes records its check there) is dead-lettered.
   */
  checks?: KnownChecks;
  deliveryLog: DeliveryLog;
  state: HookStateStore;
  /**
   * Judges a delivery's `Probemesh-Fence` (`leases.fence`): "stale" → not attempted, acked, recorded
   * `fenced`. @default every well-formed fence is current
   */
  fence?: FenceJudge;
  adapters: AdapterSet;
  log: Logger;
  now?: () => number;
  random?: () => number;
  /** @default a watch whose threshold is half the ack wait */
  stallWatch?: StallWatch;
  options?: DeliveryWorkerOptions;
}

/**
 * Pulls deliveries from the shared durable consumer and runs them: one attempt per message
 * delivery, bounded by the hook's timeout; the outcome is written to the delivery log and only then
 * is the message acked (done) or nak'ed with a delay (retry with backoff, hold). A replica that dies
 * mid-attempt leaves the message unacked, so another replica gets it after the ack wait.
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const { js, registry, deliveryLog, state, adapters } = deps;
  const log = deps.log.child({ component: "hook-deliveries" });
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const concurrency = deps.options?.concurrency ?? 8;
  const policy = backoffPolicy({ ...HOOK_RETRY, ...deps.options?.backoff, random });
  // Waits for another replica's lease on the same hook and check: short, spread so waiters do not collide.
  const leaseWait = backoffPolicy({ initialMs: 500, maxMs: 500, jitter: "equal", random });
  const heartbeatMs = deps.options?.heartbeatMs ?? 1000;
  const fetchExpiresMs = deps.options?.fetchExpiresMs ?? 5000;
  const stats = emptyDeliveryStats();
  const ackWaitMs = deps.options?.ackWaitMs ?? DELIVERY_ACK_WAIT_MS;
  let stallWatch = deps.stallWatch;
  const inFlight = new Set<Promise<void>>();
  const replicaId = randomBytes(6).toString("hex");
  let batch: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;

  async function finish(m: JsMsg, rec: DeliveryRecord, then: "ack" | { nakMs: number }): Promise<void> {
    try {
      await deliveryLog.record(rec);
    } catch (err) {
      // Without a record the outcome is not durable: let JetStream redeliver the message.
      stats.logErrors++;
      log.error(
        { err: errorMessage(err), hookId: rec.hookId, eventId: rec.eventId },
        "could not record delivery outcome; will retry",
      );
      m.nak(Math.min(30_000, policy.initialMs * 5));
      return;
    }
    if (then === "ack") m.ack();
    else m.nak(Math.max(0, Math.round(then.nakMs)));
  }

  /**
   * Moves a message that can never be delivered to the dead letters and terminates it: counted,
   * logged, kept for inspection, never retried. Should the dead letter not be written, the message
   * is retried later instead (nothing is dropped unseen).
   */
  async function deadLetter(m: JsMsg, reason: DeadLetterReason, detail: string): Promise<void> {
    const letter: DeadLetter = {
      reason,
      detail,
      subject: m.subject,
      seq: m.seq,
      at: now(),
      payload: m.string().slice(0, 65_536),
    };
    try {
      await publishDeadLetter(js, letter);
    } catch (err) {
      log.warn({ subject: m.subject, seq: m.seq, reason, err: errorMessage(err) }, "could not dead-letter; will retry");
      m.nak(Math.min(30_000, policy.initialMs * 5));
      return;
    }
    stats.deadLettered++;
    if (reason === "malformed") stats.malformed++;
    log.error({ subject: m.subject, seq: m.seq, reason, detail }, "delivery message dead-lettered");
    m.term();
  }

  /**
   * True (and counted, logged) when this replica stood still after receiving `m` at `receivedAt`:
   * JetStream may have redelivered it to another replica meanwhile, which may have attempted it
   * already. The message is then neither attempted nor acked here: its ack wait runs out and
   * JetStream hands it to whichever replica pulls next (a redelivery to this replica is fresh).
   */
  function heldThroughStall(m: JsMsg, receivedAt: number, line: object): boolean {
    if (!stallWatch?.stalledSince(receivedAt)) return false;
    stats.stalled++;
    log.warn(
      { ...line, seq: m.seq },
      "this replica stood still while holding the delivery; not attempting it, JetStream redelivers it",
    );
    return true;
  }

  async function handle(m: JsMsg, receivedAt: number): Promise<void> {
    const attempt = m.info.deliveryCount;
    let d: QueuedDelivery;
    try {
      d = m.json<QueuedDelivery>();
      if (typeof d.hookId !== "string" || typeof d.enqueuedAt !== "number")
        throw new Error("missing hookId or enqueuedAt");
      validateEvent(d.event);
    } catch (err) {
      return deadLetter(m, "malformed", errorMessage(err));
    }
    const { event, hookId } = d;
    // The subject names the hook too: a message whose payload names another hook was not enqueued by us.
    if (m.subject !== `${DELIVERIES_SUBJECT_PREFIX}.${hookId}`)
      return deadLetter(m, "subject_mismatch", `payload names hook ${JSON.stringify(hookId)}`);
    let fence: ReturnType<typeof checkFence>;
    try {
      // JetStream's timestamp is the server's time of the enqueue: the fence compares it with when
      // later leases began (server time too), never with this replica's clock.
      fence = checkFence(m.headers?.values(FENCE_HEADER), Math.floor(m.info.timestampNanos / 1e6), deps.fence);
    } catch (err) {
      log.warn({ subject: m.subject, seq: m.seq, err: errorMessage(err) }, "could not judge the fence; retrying");
      return void m.nak(policy.initialMs);
    }
    if (fence.kind === "malformed") return deadLetter(m, "malformed", fence.detail);
    const id = deliveryId(event.id, hookId);
    const base = {
      hookId,
      eventId: event.id,
      eventType: event.type,
      checkId: event.data.checkId,
      deliveryId: id,
      attempt,
    };
    const record = (outcome: DeliveryOutcome, extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
      ...base,
      ...(fence.kind !== "none" ? { fence: fence.fence } : {}),
      outcome,
      latencyMs: 0,
      at: now(),
      ...extra,
    });
    const line = { hookId, eventId: event.id, type: event.type, attempt };
    if (heldThroughStall(m, receivedAt, line)) return;

    let retryMs = policy.initialMs;
    const rec = await registry.get(hookId).catch((err: unknown) => {
      if (err instanceof SecretBoxError) {
        // Its secrets need a key PROBEMESH_SECRET_KEY lacks: wait for the operator, do not drop it.
        retryMs = 30_000;
        log.error({ ...line, err: errorMessage(err) }, "hook secrets unreadable; retrying later");
      } else log.warn({ ...line, err: errorMessage(err) }, "hook registry unavailable; retrying");
      return null;
    });
    if (rec === null) return void m.nak(retryMs);
    if (!rec) return deadLetter(m, "unknown_hook", `no hook ${JSON.stringify(hookId)} (never created, or deleted)`);
    if (fence.kind === "stale") {
      // A replica that had lost the partition decided this event: the new owner decides for itself.
      stats.fenced++;
      const { partition, epoch } = fence.fence;
      log.warn({ ...line, partition, epoch, publishedAt: fence.publishedAt }, "delivery fenced: stale partition lease");
      return finish(
        m,
        record("fenced", {
          error: `published under epoch ${epoch} of partition ${partition} after a newer lease had begun`,
        }),
        "ack",
      );
    }
    if (rec.disabled) {
      stats.skipped++;
      log.info({ ...line, reason: "disabled" }, "delivery skipped");
      return finish(m, record("skipped", { error: `hook disabled: ${rec.disabled.reason}` }), "ack");
    }
    if (event.type !== "test" && deps.checks) {
      const checkId = event.data.checkId;
      const known = await Promise.all([deps.checks.get(checkId), state.checkState(checkId)]).then(
        ([inRegistry, inState]) => inRegistry !== undefined || inState !== undefined,
        (err: unknown) => {
          log.warn({ ...line, err: errorMessage(err) }, "could not look the check up; retrying");
          return null;
        },
      );
      if (known === null) return void m.nak(policy.initialMs);
      if (!known) return deadLetter(m, "unknown_check", `no check ${JSON.stringify(checkId)} is or was known`);
    }
    const hook = rec.hook;
    const deadline = d.enqueuedAt + hook.deadlineMs;
    if (now() > deadline) {
      stats.gaveUp++;
      log.error({ ...line }, "delivery deadline passed before the attempt; giving up");
      return finish(m, record("gave_up", { error: `deadline of ${hook.deadlineMs} ms passed` }), "ack");
    }

    if (!wants(rec, event)) {
      stats.skipped++;
      log.info({ ...line }, "delivery skipped: hook no longer subscribed");
      return finish(m, record("skipped", { error: "hook no longer subscribed to this event type or check" }), "ack");
    }
    // One queue message per delivery id attempts it: another copy (a new owner's re-announcement under
    // its epoch, a restart's) of a delivery already claimed is a duplicate, never a second attempt.
    const claim = await claimDelivery(js, hookId, id, m.seq).catch((err: unknown) => {
      log.warn({ ...line, err: errorMessage(err) }, "could not claim the delivery; retrying");
      return null;
    });
    if (claim === null) return void m.nak(policy.initialMs);
    if (claim === "other") {
      stats.duplicates++;
      log.info({ ...line }, "delivery is a duplicate of another copy's; not attempted");
      return finish(m, record("duplicate", { error: "another copy of this delivery was attempted" }), "ack");
    }
    const checkId = event.data.checkId;
    // Traffic-changing actions run one at a time per hook and check, across replicas, so that an
    // older transition can never finish after (and undo) a newer one.
    const serialize = ACTION_HOOK_TYPES.includes(hook.type) && event.type !== "test";
    const owner = `${replicaId}:${m.seq}`;
    if (
      serialize &&
      !(await state.acquire(hook.id, checkId, owner, hook.timeoutMs + LEASE_MARGIN_MS).catch(() => false))
    ) {
      stats.waitedForLease++;
      m.nak(leaseWait.delay(1));
      return;
    }
    try {
      const last = await state.applied(hook.id, checkId).catch(() => undefined);
      const verdict = decide(hook, event, last, now());
      if (verdict.kind === "superseded") {
        stats.superseded++;
        log.info({ ...line, reason: verdict.reason }, "delivery superseded");
        return finish(m, record("superseded", { error: verdict.reason }), "ack");
      }
      if (verdict.kind === "hold") {
        stats.held++;
        log.info({ ...line, untilMs: verdict.untilMs, reason: verdict.reason }, "delivery held");
        // A little past the end of the hold, so that timer granularity does not bring it back just early.
        return finish(m, record("held", { error: verdict.reason, retryAt: verdict.untilMs }), {
          nakMs: verdict.untilMs - now() + 25,
        });
      }
      // The last moment to notice a stall: past here the receiver sees the attempt.
      if (heldThroughStall(m, receivedAt, line)) return;

      const result = await runAttempt(hook, d, id);
      const latencyMs = result.latencyMs;
      const outcome: Partial<DeliveryRecord> = {
        latencyMs,
        result: result.result,
        ...(result.result.status !== undefined ? { status: result.result.status } : {}),
      };
      const r = result.result;
      if (r.ok) {
        const dir = directionOf(event.type);
        if ((dir === "failover" || dir === "failback") && !r.dryRun) {
          await state
            .recordApplied(hook.id, checkId, {
              eventId: event.id,
              eventType: event.type,
              eventAt: eventTime(event),
              direction: dir,
              appliedAt: now(),
            })
            .catch((err: unknown) => log.warn({ ...line, err: errorMessage(err) }, "could not record applied state"));
        }
        if (r.dryRun) stats.dryRun++;
        else stats.delivered++;
        log.info(
          { ...line, latencyMs, status: r.status, action: r.action, verified: r.verified, dryRun: r.dryRun },
          r.dryRun ? "dry run: nothing changed" : "delivered",
        );
        return finish(m, record(r.dryRun ? "dry_run" : "delivered", outcome), "ack");
      }
      if (r.refused) {
        stats.refused++;
        log.warn({ ...line, reason: r.refused, dryRun: r.dryRun }, "action refused (fail open)");
        return finish(m, record("refused", { ...outcome, error: r.refused }), "ack");
      }
      if (r.disable) {
        stats.disabled++;
        await registry
          .disable(hook.id, r.error ?? "receiver asked to stop")
          .catch((err: unknown) => log.error({ ...line, err: errorMessage(err) }, "could not disable hook"));
        return finish(m, record("disabled", { ...outcome, error: r.error }), "ack");
      }
      stats.failedAttempts++;
      const t = now();
      if (t >= deadline) {
        stats.gaveUp++;
        log.error({ ...line, status: r.status, err: r.error }, "delivery failed and its deadline passed; giving up");
        return finish(m, record("gave_up", { ...outcome, error: r.error }), "ack");
      }
      const delay = Math.min(policy.delay(attempt), deadline - t);
      log.warn({ ...line, status: r.status, err: r.error, retryInMs: delay }, "delivery attempt failed");
      return finish(m, record("failed", { ...outcome, error: r.error, retryAt: t + delay }), { nakMs: delay });
    } finally {
      if (serialize) await state.release(hook.id, checkId, owner).catch(() => undefined);
    }
  }

  async function runAttempt(
    hook: Hook,
    d: QueuedDelivery,
    id: string,
  ): Promise<{ result: ActionResult; latencyMs: number }> {
    const adapter = adapters[hook.type];
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`attempt timed out after ${hook.timeoutMs} ms`)),
      hook.timeoutMs,
    );
    const start = now();
    try {
      const result = await adapter.apply(d.event, hook, {
        signal: controller.signal,
        now,
        log,
        deliveryId: id,
        checkState: async (checkId) => (await state.checkState(checkId))?.state,
        checkName: async (checkId) => (await deps.checks?.get(checkId))?.check?.name || undefined,
      });
      return { result, latencyMs: now() - start };
    } catch (err) {
      // Adapters report failures as results; a throw is a bug, but must not crash the loop.
      return { result: { ok: false, action: hook.type, error: errorMessage(err) }, latencyMs: now() - start };
    } finally {
      clearTimeout(timer);
    }
  }

  async function run(consumer: Consumer): Promise<void> {
    // Fetch only as many messages as there are free slots, so no message waits in a local buffer
    // while its ack wait runs out (it would then be redelivered to another replica needlessly).
    while (!stopping) {
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      try {
        batch = await consumer.fetch({ max_messages: concurrency - inFlight.size, expires: fetchExpiresMs });
        for await (const m of batch) {
          const receivedAt = stallWatch?.now() ?? 0;
          // Tells JetStream this replica still works on it for as long as it does (serialized waits
          // included), so the short ack wait only ever runs out for a replica that died or froze.
          const beat = setInterval(() => m.working(), heartbeatMs);
          const p: Promise<void> = handle(m, receivedAt)
            .finally(() => clearInterval(beat))
            .catch((err: unknown) => {
              log.error({ err: errorMessage(err), seq: m.seq }, "delivery handler failed; message will be redelivered");
              m.nak(policy.initialMs);
            })
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
      } catch (err) {
        if (stopping) break;
        log.warn({ err: errorMessage(err) }, "fetching deliveries failed; retrying");
        await sleep(1000);
      }
    }
  }

  return {
    stats,
    async start() {
      if (loop) return;
      stopping = false;
      stallWatch ??= watchStalls({ thresholdMs: ackWaitMs / 2 });
      const consumer = await js.consumers.get(DELIVERIES_STREAM, DELIVERIES_CONSUMER);
      loop = run(consumer).catch((err: unknown) => log.error({ err: errorMessage(err) }, "delivery loop ended"));
      log.info({ concurrency }, "hook delivery worker started");
    },
    async stop() {
      stopping = true;
      batch?.stop();
      await loop;
      await Promise.allSettled([...inFlight]);
      if (stallWatch !== deps.stallWatch) {
        stallWatch?.stop();
        stallWatch = deps.stallWatch;
      }
      loop = undefined;
      batch = undefined;
    },
  };
}
