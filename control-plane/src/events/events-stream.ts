// The live events of GET /v1/events: each partition's owner publishes its transitions (as hooks get
// them) and its checks' status changes to one JetStream stream, only while it holds the lease, with a
// message id derived from the data, so a takeover that decides the same thing again dedupes.
import { createHash } from "node:crypto";
import { headers } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { FENCE_HEADER, type PartitionLease, type PartitionLeases } from "../cluster/types.js";
import type { CheckStatus, Transition } from "../consensus/types.js";
import { ensureStream } from "../jetstream/ensure.js";
import { formatFence } from "../hooks/fence.js";
import type { Hooks } from "../hooks/hooks.js";
import type { HeldBy, HookEvent } from "../hooks/types.js";

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
  /** Events not published because the lease they were decided under no longer held. */
  notOwner: number;
  /** Publishes that failed (the event is lost to SSE clients; hooks are not affected). */
  failures: number;
  /** Events dropped because too many publishes were in flight (NATS slow or away). */
  dropped: number;
}

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
  stats(): EventPublisherStats;
}

/** Creates the {@link EventPublisher} of one replica. */
export function createEventPublisher({
  js,
  leases,
  log,
  maxInFlight = 1000,
}: {
  js: Pick<JetStreamClient, "publish">;
  leases: Pick<PartitionLeases, "holds">;
  log: Logger;
  /** Most publishes in flight; beyond it events are dropped (counted). @default 1000 */
  maxInFlight?: number;
}): EventPublisher {
  const elog = log.child({ component: "events" });
  const counters: EventPublisherStats = { published: 0, duplicates: 0, notOwner: 0, failures: 0, dropped: 0 };
  let inFlight = 0;

  function publish(kind: "transition" | "status", msgId: string, data: unknown, fence?: PartitionLease): void {
    if (fence && !leases.holds(fence.partition, fence.epoch)) {
      counters.notOwner++;
      return;
    }
    if (inFlight >= maxInFlight) {
      counters.dropped++;
      return;
    }
    const h = headers();
    if (fence) h.set(FENCE_HEADER, formatFence(fence));
    inFlight++;
    js.publish(`${EVENTS_SUBJECT_PREFIX}.${kind}.${fence?.partition ?? "none"}`, JSON.stringify(data), {
      msgID: msgId,
      headers: h,
    })
      .then((ack) => {
        counters.published++;
        if (ack.duplicate) counters.duplicates++;
      })
      .catch((err: unknown) => {
        counters.failures++;
        elog.warn({ err: err instanceof Error ? err.message : String(err), msgId }, "could not publish a live event");
      })
      .finally(() => inFlight--);
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
    stats: () => ({ ...counters }),
  };
  return publisher;
}
