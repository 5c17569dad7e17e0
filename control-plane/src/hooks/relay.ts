// The hook relay: consensus transitions in, hook events out, one at a time and in order. It owns
// what the composition root used to decide: which events a transition makes, the maintenance and
// dependency gates, the re-announcements at start, the belated `check.recovered` of a check whose
// `check.degraded` went out, and retrying an enqueue until NATS takes it.
import type { Logger } from "pino";
import { retryUntilAborted, STARTUP_RETRY, type BackoffPolicy } from "../backoff.js";
import type { PartitionLease, PartitionLeases } from "../cluster/types.js";
import type { DegradedAnnouncements } from "../consensus/degraded-announcements.js";
import type { ConsensusEngine } from "../consensus/engine.js";
import type { Outage, Transition } from "../consensus/types.js";
import type { DependencyGate } from "../dependencies/hook-gate.js";
import { ValidationError } from "../errors.js";
import type { MaintenanceGate } from "../maintenance/hook-gate.js";
import type { OutageStore } from "../store/outages.js";
import { belatedRecovery, hookEventsFromTransition, reannouncements } from "./from-transition.js";
import type { Hooks } from "./hooks.js";
import type { HeldBy, HookEvent } from "./types.js";

/** Incidents closed this recently are re-announced at start: the delivery queue's dedupe window. */
export const REANNOUNCE_WINDOW_MS = 3_600_000;
/** How often held openings are checked for the end of their maintenance or of their dependencies' outage. */
export const RELEASE_EVERY_MS = 1000;

/** Options of {@link createHookRelay}. */
export interface HookRelayOptions {
  /** The consensus engine, read for a check's status now and the open incidents at start. */
  engine: Pick<ConsensusEngine, "status" | "openIncidents">;
  /** Recently closed incidents, re-announced at start; a failure re-announces open ones only. */
  outages: Pick<OutageStore, "listOutages">;
  /** Where events are enqueued; a rejection other than ValidationError is retried. */
  hooks: Pick<Hooks, "publish">;
  /**
   * Asked before each enqueue attempt of an event decided under a fence: one whose lease no longer
   * holds is dropped (counted as `fencedOff`), its partition's new owner decides it. Without it every event goes out.
   */
  leases?: Pick<PartitionLeases, "holds">;
  /** Holds incidents opened inside a maintenance window. */
  maintenance: Pick<MaintenanceGate, "filter" | "release">;
  /** Holds incidents opened while a dependency is down (applied after the maintenance gate). */
  dependencies: Pick<DependencyGate, "filter" | "release">;
  /**
   * Told of each event a gate holds back from hooks (never enqueued), with the fence it was decided
   * under: GET /v1/events shows it. @default nothing
   */
  onHeld?: (event: HookEvent, held: HeldBy, fence?: PartitionLease) => void;
  /**
   * Who decides a check now: this replica ("mine"), another one ("elsewhere": its degraded mark is left
   * to that replica), or nobody because the check is gone ("gone": the mark is forgotten). Without it,
   * every check is this replica's.
   */
  owner?: (checkId: string) => "mine" | "elsewhere" | "gone";
  /** Which checks have a `check.degraded` at hooks not yet followed by `check.recovered` (kept across restarts). */
  degraded: DegradedAnnouncements;
  log: Logger;
  /** Stops enqueue retries (e.g. the program's shutdown signal); {@link HookRelay.stop} stops them too. */
  signal?: AbortSignal;
  /** @default Date.now */
  now?: () => number;
  /** Delays between enqueue attempts. @default STARTUP_RETRY (500 ms doubling to 5 s) */
  retry?: BackoffPolicy;
  /** How far back closed incidents are re-announced at start. @default REANNOUNCE_WINDOW_MS (1 h) */
  reannounceWindowMs?: number;
  /** How often {@link HookRelay.release} runs once started; 0 = never by itself. @default RELEASE_EVERY_MS (1 s) */
  releaseEveryMs?: number;
}

/** Counters of the {@link HookRelay}. */
export interface HookRelayStats {
  /** Events hooks took (enqueued, or duplicates of deliveries already enqueued). */
  published: number;
  /** Events hooks refused as malformed (not retried). */
  refused: number;
  /** Failed enqueue attempts, each retried. */
  retries: number;
  /** Events re-announced at start. */
  reannounced: number;
  /** `check.recovered` events made by the relay for a degraded check the engine announced no recovery for. */
  belatedRecoveries: number;
  /** Held openings released by {@link HookRelay.release}. */
  released: number;
  /** Steps of the queue that failed unexpectedly (logged; the queue goes on). */
  failures: number;
  /** Events dropped because the lease they were decided under no longer held. */
  fencedOff: number;
}

/**
 * The path from consensus transitions to the hooks' delivery queue. Every event goes through one
 * queue, in the order it was decided, each enqueued (retried until hooks take it) before the next:
 * a partial that grows into an outage reaches hooks as `partial.absorbed` then `outage.opened`.
 */
export interface HookRelay {
  /**
   * The consensus service's `onTransition`: queues the transition's events; resolves once they are
   * enqueued. `fence`: the partition lease it was decided under, passed on to hooks with each event.
   */
  onTransition(t: Transition, fence?: PartitionLease): Promise<void>;
  /**
   * Queues the re-announcement of recent incidents (open ones, and ones closed within the dedupe
   * window, same ids) and the belated recoveries of checks marked degraded, then releases held
   * openings every `releaseEveryMs`. Call it once consensus has warmed up.
   */
  start(): Promise<void>;
  /**
   * Queues the opening events of a partition's open incidents once its new owner has warmed up (same
   * ids: whatever the previous owner delivered is not delivered twice; what it decided but died before
   * enqueuing is delivered now), under the new owner's fence.
   */
  reannounceOpen(incidents: readonly Outage[], fence: PartitionLease): Promise<void>;
  /** Queues the held openings whose maintenance ended or whose dependencies recovered; resolves once enqueued. */
  release(): Promise<void>;
  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void>;
  /** Stops releasing and retrying; an enqueue in flight finishes. */
  stop(): void;
  stats(): HookRelayStats;
}

/** Creates the {@link HookRelay} of one control plane. */
export function createHookRelay(opts: HookRelayOptions): HookRelay {
  const { engine, hooks, degraded } = opts;
  const log = opts.log.child({ component: "hooks" });
  const now = opts.now ?? Date.now;
  const windowMs = opts.reannounceWindowMs ?? REANNOUNCE_WINDOW_MS;
  const releaseEveryMs = opts.releaseEveryMs ?? RELEASE_EVERY_MS;
  const policy = opts.retry ?? STARTUP_RETRY;
  const stopping = new AbortController();
  // The program's shutdown stops retries as stop() does.
  if (opts.signal?.aborted) stopping.abort();
  else opts.signal?.addEventListener("abort", () => stopping.abort(), { once: true });
  const signal = stopping.signal;
  const counters: HookRelayStats = {
    published: 0,
    refused: 0,
    retries: 0,
    reannounced: 0,
    belatedRecoveries: 0,
    released: 0,
    failures: 0,
    fencedOff: 0,
  };
  let queue: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  // Checks whose engine-made check.recovered is queued: the belated one (queued before it) gives way.
  const engineRecovering = new Set<string>();

  /** Appends a step to the queue; a step that throws is logged and does not stop the ones after it. */
  function enqueue(what: string, step: () => Promise<void>): Promise<void> {
    queue = queue.then(step).catch((err: unknown) => {
      counters.failures++;
      log.error({ err, what }, "hook relay step failed");
    });
    return queue;
  }

  const gate = (events: HookEvent[], at: number, fence?: PartitionLease): HookEvent[] => {
    const onHeld = opts.onHeld && ((e: HookEvent, held: HeldBy) => opts.onHeld?.(e, held, fence));
    return opts.dependencies.filter(opts.maintenance.filter(events, at, onHeld), at, onHeld);
  };

  /** `episode`: of a `check.degraded`, recorded with its mark. */
  async function publish(event: HookEvent, fence?: PartitionLease, episode?: string): Promise<void> {
    let refused = false;
    let fencedOff = false;
    const done = await retryUntilAborted({ what: `publishing hook event ${event.id}`, log, signal, policy }, () => {
      if (fence && opts.leases && !opts.leases.holds(fence.partition, fence.epoch)) {
        fencedOff = true;
        return Promise.resolve(undefined);
      }
      return (fence ? hooks.publish(event, { fence }) : hooks.publish(event)).catch((err: unknown) => {
        // A refused event will not become valid by retrying; it is logged and counted by hooks.
        if (err instanceof ValidationError) {
          refused = true;
          return undefined;
        }
        counters.retries++;
        throw err;
      });
    });
    if (fencedOff) {
      counters.fencedOff++;
      log.info({ eventId: event.id, ...fence }, "hook event dropped: the partition's lease no longer holds");
      return;
    }
    if (event.type === "check.recovered") engineRecovering.delete(event.data.checkId);
    if (refused) counters.refused++;
    else if (done) counters.published++;
    if (!done) return;
    if (event.type === "check.degraded") await degraded.mark(event.data.checkId, Date.parse(event.timestamp), episode);
    else if (event.type === "check.recovered") await degraded.clear(event.data.checkId);
  }

  async function publishAll(events: readonly HookEvent[], fence?: PartitionLease, episode?: string): Promise<void> {
    for (const event of events) await publish(event, fence, episode);
  }

  /** Publishes `check.recovered` for a marked check that is up (or forgets a deleted one); true if published. */
  async function announceBelatedRecovery(checkId: string): Promise<boolean> {
    const decision = belatedRecovery(checkId, engine.status(checkId), now(), degraded.episode(checkId));
    if (decision === "forget") await degraded.clear(checkId);
    else if (decision) await publish(decision);
    const announced = decision !== undefined && decision !== "forget";
    if (announced) counters.belatedRecoveries++;
    return announced;
  }

  async function reannounce(): Promise<void> {
    // Abandoned ones too: their end is incident.abandoned, never a recovery.
    const from = now() - windowMs;
    const recent = await Promise.all([
      opts.outages.listOutages({ from, state: "resolved" }),
      opts.outages.listOutages({ from, state: "abandoned" }),
    ])
      .then((lists) => lists.flat())
      .catch((err: unknown) => {
        log.warn({ err }, "could not load recently closed incidents; re-announcing open ones only");
        return [];
      });
    const events = gate(
      reannouncements([...engine.openIncidents(), ...recent], (id) => engine.status(id), {
        now: now(),
        dedupeWindowMs: windowMs,
      }),
      now(),
    );
    await publishAll(events);
    counters.reannounced += events.length;
    if (events.length > 0) log.info({ events: events.length }, "re-announced recent incidents to hooks");
  }

  async function recoverMarked(): Promise<void> {
    let recovered = 0;
    for (const mark of await degraded.list()) {
      const owner = opts.owner?.(mark.checkId) ?? "mine";
      if (owner === "elsewhere") continue;
      if (owner === "gone") await degraded.clear(mark.checkId);
      else if (await announceBelatedRecovery(mark.checkId)) recovered++;
    }
    if (recovered > 0) log.info({ events: recovered }, "announced recoveries of checks degraded before the start");
  }

  function release(): Promise<void> {
    const at = now();
    const held = [
      ...opts.dependencies.filter(
        opts.maintenance.release(at, (checkId, outageId) => engine.status(checkId)?.outage?.id === outageId),
        at,
        opts.onHeld && ((e, held) => opts.onHeld?.(e, held)),
      ),
      ...opts.dependencies.release(at),
    ];
    if (held.length === 0) return queue;
    counters.released += held.length;
    return enqueue("releasing held openings", () => publishAll(held));
  }

  return {
    onTransition(t, fence) {
      const status = "checkId" in t ? engine.status(t.checkId) : undefined;
      const at = now();
      const events = "checkId" in t ? gate(hookEventsFromTransition(t, status), at, fence) : [];
      if (t.type === "check.recovered") {
        engineRecovering.add(t.checkId);
        // It ends the episode whose check.degraded went out, as recorded with its mark when its turn
        // comes (another owner announced it, or this engine's replay window did not reach its start).
        const recovered = t;
        return enqueue(`publishing the events of ${t.type}`, () => {
          const marked = degraded.episode(recovered.checkId);
          const list =
            marked === undefined || marked === recovered.episode
              ? events
              : gate(hookEventsFromTransition({ ...recovered, episode: marked }, status), at, fence);
          return publishAll(list, fence);
        });
      }
      const episode = t.type === "check.degraded" ? t.episode : undefined;
      if (events.length > 0)
        return enqueue(`publishing the events of ${t.type}`, () => publishAll(events, fence, episode));
      // A check up again after its degraded announcement, without the engine's own check.recovered
      // (it went down in between, or warmed up unknown after a restart): announce the recovery.
      // Decided when its turn comes, once the check.degraded queued before it has been marked.
      if (t.type === "check.state" && t.to === "up") {
        const checkId = t.checkId;
        return enqueue("announcing a belated recovery", async () => {
          if (degraded.has(checkId) && !engineRecovering.has(checkId)) await announceBelatedRecovery(checkId);
        });
      }
      return queue;
    },
    start() {
      // A crash between a transition and its hook event must not lose the event: announce again
      // what changed within the hooks' dedupe window (same ids, so what was delivered is not
      // delivered twice). Queued ahead of every live transition from here on, so hooks hear them first.
      void enqueue("re-announcing recent incidents", reannounce);
      // A check degraded (and announced) before the stop that recovered meanwhile gets its
      // check.recovered; one still degraded, down or partial keeps its mark, a deleted one is forgotten.
      const started = enqueue("announcing recoveries of checks degraded before the start", recoverMarked);
      if (releaseEveryMs > 0 && !timer && !signal.aborted) timer = setInterval(() => void release(), releaseEveryMs);
      return started;
    },
    reannounceOpen(incidents, fence) {
      return enqueue(`re-announcing the open incidents of partition ${fence.partition}`, async () => {
        const events = gate(
          reannouncements(incidents, (id) => engine.status(id), { now: now(), dedupeWindowMs: windowMs }),
          now(),
          fence,
        );
        await publishAll(events, fence);
        counters.reannounced += events.length;
        // Its checks degraded (and announced) under the previous owner that recovered meanwhile.
        await recoverMarked();
        if (events.length > 0)
          log.info(
            { events: events.length, partition: fence.partition },
            "re-announced a taken-over partition's open incidents",
          );
      });
    },
    release,
    idle: () => queue,
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      stopping.abort();
    },
    stats: () => ({ ...counters }),
  };
}
