// The live events of GET /v1/events: each partition's owner publishes its transitions (as hooks get
// them) and its checks' status changes to one JetStream stream, only while it holds the lease, with a
// message id derived from the data, so a takeover that decides the same thing again dedupes.
import { createHash } from "node:crypto";
import { headers } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { FENCE_HEADER, type PartitionLease, type PartitionLeases } from "../cluster/types.js";
import type { CheckStatus, Transition } from "../consensus/types.js";
import { backoffPolicy, type BackoffPolicy } from "../backoff.js";
import { ensureStream } from "../jetstream/ensure.js";
import { formatFence } from "../hooks/fence.js";
import type { Hooks } from "../hooks/hooks.js";
import type { HeldBy, HookEvent } from "../hooks/types.js";
import { sleep } from "../sleep.js";

/** JetStream stream of transition and status events (bounded by age and bytes). */
export const EVENTS_STREAM = "PROBEMESH_EVENTS";
/** Subject prefix; full subject `probemesh.events.<transition|status>.<partition>`. */
export const EVENTS_SUBJECT_PREFIX = "probemesh.events";

/** Options of {@link ensureEventsStream}. */
export interface EventsStreamOptions {
  /** Events older than this are dropped (a resume from further back starts at the oldest kept). @default 86400000 (24 h) */
  maxAgeMs?: number;
  /** Most bytes kept (oldest dropped first). @default 268435456 (256 MiB) */
  maxBytes?: number;
  /** Window in which an event id is published only once (a takeover's repeat). @default 3600000 (1 h) */
  dedupeWindowMs?: number;
  /** Copies of the stream in a NATS cluster (PROBEMESH_JETSTREAM_REPLICAS). @default 1 */
  replicas?: number;
}

/** Creates (or updates) the events stream. */
export async function ensureEventsStream(jsm: JetStreamManager, opts: EventsStreamOptions = {}): Promise<void> {
  await ensureStream(jsm, {
    name: EVENTS_STREAM,
    settings: {
      subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
      max_age: (opts.maxAgeMs ?? 86_400_000) * 1_000_000,
      max_bytes: opts.maxBytes ?? 256 * 1024 * 1024,
      duplicate_window: (opts.dedupeWindowMs ?? 3_600_000) * 1_000_000,
      num_replicas: opts.replicas ?? 1,
    },
  });
}

/** `event: transition` data: the hook event as queued for hooks, with its check and time lifted up. */
export interface TransitionEvent {
  id: string;
  type: HookEvent["type"];
  checkId: string;
  /** Epoch ms of the transition. */
  at: number;
  /** ISO 8601 time, as hooks get it. */
  timestamp: string;
  data: HookEvent["data"];
  /**
   * Present when a gate held the event back from hooks (nothing was delivered): a maintenance window
   * (`{by: "maintenance", windowId}`) or dependencies down (`{by: "dependency", checkIds}`). An opening
   * released later comes again, without `held`, when hooks get it.
   */
  held?: HeldBy;
}

/** `event: status` data: a check's global state and its regions' after a change. */
export interface StatusEvent {
  checkId: string;
  state: CheckStatus["state"];
  /** Epoch ms; null when never. */
  since: number | null;
  regions: Record<string, { state: string; since: number | null; impaired: boolean }>;
}

/** The envelope of a {@link HookEvent} as `event: transition` carries it; `held` when a gate held it back. */
export function transitionEvent(e: HookEvent, held?: HeldBy): TransitionEvent {
  const at = Date.parse(e.timestamp);
  return {
    id: e.id,
    type: e.type,
    checkId: e.data.checkId,
    at: Number.isFinite(at) ? at : 0,
    timestamp: e.timestamp,
    data: e.data,
    ...(held ? { held } : {}),
  };
}

/** The `event: status` data of a check's status. */
export function statusEvent(s: CheckStatus): StatusEvent {
  const regions: StatusEvent["regions"] = {};
  for (const [name, r] of Object.entries(s.regions))
    regions[name] = { state: r.state, since: r.since > 0 ? r.since : null, impaired: r.impaired };
  return { checkId: s.checkId, state: s.state, since: s.since > 0 ? s.since : null, regions };
}

/** Counters of the {@link EventPublisher}. */
export interface EventPublisherStats {
  /** Events JetStream took (duplicates included). */
  published: number;
  /** Of those, repeats of an event already in the stream (a takeover, a retry). */
  duplicates: number;
  /** Events not published because the lease they were decided under no longer held (when sent or retried). */
  notOwner: number;
  /** Events lost because NATS refused them for good, e.g. too large or the connection closed (hooks are not affected). */
  failures: number;
  /** Events dropped because too many were in flight or waiting (NATS slow or away). */
  dropped: number;
  /**
   * Publish attempts that failed and are retried: the events stream unavailable (no responders while
   * it elects a leader: "jetstream is not enabled"), a timeout, a reconnect. Each attempt counts.
   */
  retries: number;
  /** Events waiting to be published again, now (a gauge). */
  waiting: number;
}

/**
 * Pauses between attempts to publish waiting events while the events stream is unavailable: 250 ms
 * doubling to 5 s, equal jitter, so that replicas reconnected at once do not retry in lockstep.
 */
export const EVENTS_RETRY: BackoffPolicy = backoffPolicy({ initialMs: 250, maxMs: 5000, jitter: "equal" });

/** Whether a failed publish may succeed if sent again (anything but a refusal of the event itself or a closed connection). */
export function isRetryablePublishError(err: unknown): boolean {
  if (!(err instanceof Error)) return true;
  if (PERMANENT_ERRORS.has(err.name)) return false;
  // A JetStream API error the server answered with a 4xx: the event itself is wrong.
  const status = (err as { status?: unknown }).status;
  return !(err.name === "JetStreamApiError" && typeof status === "number" && status >= 400 && status < 500);
}
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const CLOSED_ERRORS = new Set(["ClosedConnectionError", "DrainingConnectionError"]);
const PERMANENT_ERRORS = new Set([
  ...CLOSED_ERRORS,
  "InvalidArgumentError",
  "InvalidSubjectError",
  "PermissionViolationError",
]);

/** Publishes the events of the partitions this replica decides; never blocks or fails a decision. */
export interface EventPublisher {
  /** A hook event that hooks took, decided under `fence`. */
  transition(e: HookEvent, fence?: PartitionLease): void;
  /** A hook event a gate held back from hooks (`event: transition` with `held`); never reaches hooks. */
  held(e: HookEvent, held: HeldBy, fence?: PartitionLease): void;
  /** A consensus transition: a `region.state` or `check.state` one publishes the check's status now. */
  statusChanged(t: Transition, fence: PartitionLease, status: CheckStatus | undefined): void;
  /** `hooks` whose successful publishes also go out as `event: transition`. */
  announcing(hooks: Pick<Hooks, "publish">): Pick<Hooks, "publish">;
  /** Resolves once nothing is in flight or waiting (tests). */
  idle(): Promise<void>;
  stats(): EventPublisherStats;
}

/** One event on its way to the stream; `seq` is the order it was decided in. */
interface Outgoing {
  seq: number;
  subject: string;
  payload: string;
  msgId: string;
  fence?: PartitionLease;
}

/**
 * Creates the {@link EventPublisher} of one replica. Events are published at once while the stream
 * takes them. When a publish fails in a way a retry may fix (the stream electing a leader after a
 * NATS node died, a reconnect), an episode starts: one warning, then that event and every later one
 * wait in order and are sent again one by one with {@link EVENTS_RETRY} delays until the stream takes
 * them (message ids make a repeat harmless); one info line ends the episode. Nothing is lost silently:
 * what is given up is counted (`failures`, `dropped`, `notOwner`).
 */
export function createEventPublisher({
  js,
  leases,
  log,
  maxInFlight = 1000,
  retry = EVENTS_RETRY,
}: {
  js: Pick<JetStreamClient, "publish">;
  leases: Pick<PartitionLeases, "holds">;
  log: Logger;
  /** Most events in flight or waiting; beyond it events are dropped (counted). @default 1000 */
  maxInFlight?: number;
  /** Delays between attempts while the stream is unavailable. @default EVENTS_RETRY */
  retry?: BackoffPolicy;
}): EventPublisher {
  const elog = log.child({ component: "events" });
  const counters = { published: 0, duplicates: 0, notOwner: 0, failures: 0, dropped: 0, retries: 0 };
  let seq = 0;
  /** Publishes sent and not yet answered (each settles: a failure is handled in it). */
  const inFlight = new Set<Promise<void>>();
  /** Events waiting for the stream, in decision order; non-empty only during an episode. */
  const waiting: Outgoing[] = [];
  /** The current episode of unavailability, if any. */
  let episode: { since: number; retries: number; dropped: number } | undefined;
  let draining: Promise<void> | undefined;

  const holds = (o: Outgoing) => !o.fence || leases.holds(o.fence.partition, o.fence.epoch);

  async function send(o: Outgoing): Promise<void> {
    const h = headers();
    if (o.fence) h.set(FENCE_HEADER, formatFence(o.fence));
    const ack = await js.publish(o.subject, o.payload, { msgID: o.msgId, headers: h });
    counters.published++;
    if (ack.duplicate) counters.duplicates++;
  }

  function lost(o: Outgoing, err: unknown): void {
    counters.failures++;
    elog.warn(
      { err: errorMessage(err), msgId: o.msgId },
      "could not publish a live event; it is lost to GET /v1/events",
    );
  }

  /** A publish failed: the event is lost (counted) or waits, in order, for the stream to take it. */
  function failed(o: Outgoing, err: unknown): void {
    if (!isRetryablePublishError(err)) return lost(o, err);
    counters.retries++;
    if (!episode) {
      episode = { since: Date.now(), retries: 0, dropped: 0 };
      elog.warn(
        { err: errorMessage(err), msgId: o.msgId },
        "could not publish live events; they wait and are retried until the events stream takes them",
      );
    }
    episode.retries++;
    let i = waiting.length;
    while (i > 0 && (waiting[i - 1]?.seq ?? 0) > o.seq) i--;
    waiting.splice(i, 0, o);
    draining ??= drain();
  }

  /** Sends the waiting events in order, pausing after each failed attempt, until none is left. */
  async function drain(): Promise<void> {
    for (let attempt = 1; ;) {
      // Publishes sent before the episode began are answered first (a timeout takes the client's
      // request timeout): a failed one then waits in its place, and the stream keeps the decision order.
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      if (waiting.length === 0) break;
      await sleep(retry.delay(attempt));
      for (let o = waiting[0]; o; o = waiting[0]) {
        if (!holds(o)) {
          counters.notOwner++;
          waiting.shift();
          continue;
        }
        try {
          await send(o);
          waiting.shift();
          attempt = 1;
        } catch (err) {
          if (CLOSED_ERRORS.has(err instanceof Error ? err.name : "")) {
            // Shutting down: what still waits is lost, all at once, in one line.
            counters.failures += waiting.length;
            elog.warn(
              { err: errorMessage(err), lost: waiting.length },
              "NATS connection closed; waiting live events are lost",
            );
            waiting.length = 0;
            episode = undefined; // ended by the loss, not by the stream taking them
            break;
          }
          if (!isRetryablePublishError(err)) {
            waiting.shift();
            lost(o, err);
            continue;
          }
          counters.retries++;
          if (episode) episode.retries++;
          attempt++;
          break;
        }
      }
    }
    if (episode) {
      elog.info(
        { unavailableMs: Date.now() - episode.since, retries: episode.retries, dropped: episode.dropped },
        "live events published again",
      );
    }
    // Both at once: a publish failing from now on starts a new episode and a new drain.
    episode = undefined;
    draining = undefined;
  }

  function publish(kind: "transition" | "status", msgId: string, data: unknown, fence?: PartitionLease): void {
    if (fence && !leases.holds(fence.partition, fence.epoch)) {
      counters.notOwner++;
      return;
    }
    if (inFlight.size + waiting.length >= maxInFlight) {
      counters.dropped++;
      if (episode) episode.dropped++;
      return;
    }
    const o: Outgoing = {
      seq: ++seq,
      subject: `${EVENTS_SUBJECT_PREFIX}.${kind}.${fence?.partition ?? "none"}`,
      payload: JSON.stringify(data),
      msgId,
      ...(fence ? { fence } : {}),
    };
    // During an episode a new event waits behind the older ones: the stream keeps the decision order.
    if (episode) {
      waiting.push(o);
      return;
    }
    const sent = send(o)
      .catch((err: unknown) => failed(o, err))
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  }

  const publisher: EventPublisher = {
    transition(e, fence) {
      publish("transition", `transition:${e.id}`, transitionEvent(e), fence);
    },
    held(e, held, fence) {
      // Its own id: the same event released to hooks later is published again, without `held`.
      publish("transition", `transition:held:${e.id}`, transitionEvent(e, held), fence);
    },
    statusChanged(t, fence, status) {
      if ((t.type !== "region.state" && t.type !== "check.state") || !status) return;
      // One decision can change a region and the check at once (two transitions, one resulting
      // status): the id names the status it publishes, so JetStream keeps one copy.
      const data = statusEvent(status);
      const digest = createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 16);
      publish("status", `status:${t.checkId}:${t.at}:${digest}`, data, fence);
    },
    announcing(hooks) {
      return {
        publish: async (event: HookEvent, opts?: Parameters<Hooks["publish"]>[1]) => {
          const result = await hooks.publish(event, opts);
          publisher.transition(event, opts?.fence);
          return result;
        },
      };
    },
    async idle() {
      while (inFlight.size > 0 || draining) await (draining ?? Promise.all([...inFlight]));
    },
    stats: () => ({ ...counters, waiting: waiting.length }),
  };
  return publisher;
}
