// What one GET /v1/events client reads: the events stream (transitions, status changes) and the hook
// delivery log, each through its own ordered consumer from where the client left off, merged into one
// bounded buffer. A client that lets its buffer fill is cut off (counted): NATS and the deciders never
// wait for a reader.
import {
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { Logger } from "pino";
import { UnavailableError } from "../errors.js";
import { HOOK_LOG_STREAM, redactDelivery } from "../hooks/delivery-log.js";
import type { DeliveryRecord } from "../hooks/types.js";
import { isJsApiError, JsApiCode } from "../jetstream/ensure.js";
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, type StatusEvent } from "./events-stream.js";
import { checkMatches, stateMatches, trimRegions, type CheckFilter, type FilteredCheck } from "./filter.js";

/** Event names of GET /v1/events. */
export const EVENT_TYPES = ["transition", "status", "delivery"] as const;
/** One of {@link EVENT_TYPES}. */
export type EventType = (typeof EVENT_TYPES)[number];

/** Where a client is in both streams: the last sequence of each it has been given. */
export interface FeedPosition {
  events: number;
  deliveries: number;
}

/** The `id:` of an event: both stream positions, `<events>-<deliveries>` (opaque to clients). */
export function formatEventId(p: FeedPosition): string {
  return `${p.events}-${p.deliveries}`;
}

/** A `Last-Event-ID` back to positions; undefined when it is not one this API gave. */
export function parseEventId(id: string): FeedPosition | undefined {
  const m = /^(\d{1,15})-(\d{1,15})$/.exec(id);
  return m ? { events: Number(m[1]), deliveries: Number(m[2]) } : undefined;
}

/** One event for the wire. */
export interface LiveEvent {
  id: string;
  event: EventType;
  /** One JSON line. */
  data: string;
}

/** What a client asked to see. */
export interface FeedFilter extends CheckFilter {
  /** Event names to send. @default every one */
  types?: ReadonlySet<EventType>;
}

/** Why a subscription ended. */
export type FeedEnd = "client" | "overflow" | "stopped" | "error";

/** One client's feed. */
export interface FeedSubscription {
  /** Waits for events and returns every buffered one (oldest first); an empty list once the feed ended. */
  take(): Promise<LiveEvent[]>;
  /** Ends the feed (stops its consumers); later `take()`s return []. */
  close(reason: FeedEnd): void;
  /** Why it ended, once it has. */
  readonly ended: FeedEnd | undefined;
  /** Called once when the feed ends (at once when it already has). */
  onEnd(listener: (reason: FeedEnd) => void): void;
}

/** Counters of the {@link EventHub}. */
export interface EventHubStats {
  /** Clients connected now. */
  clients: number;
  /** Clients ever connected. */
  connected: number;
  /** Clients cut off because their buffer filled (too slow to read). */
  slowDisconnects: number;
  /** Clients refused because `maxClients` were connected. */
  refused: number;
  /** Events sent to buffers (after filters). */
  buffered: number;
  /** Stream messages that were not valid events (skipped). */
  malformed: number;
}

/** Options of {@link createEventHub}. */
export interface EventHubOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** A check's labels and regions for the filters; undefined for an unknown (deleted) check. */
  checkOf: (checkId: string) => FilteredCheck | undefined;
  log: Logger;
  /** Events one client may have waiting; one more cuts it off. @default 1000 */
  maxBuffered?: number;
  /** Most clients at once on this replica (more get 503). @default 100 */
  maxClients?: number;
}

/** The replica's GET /v1/events clients. */
export interface EventHub {
  /** A feed after `after` (both positions), or from now; UnavailableError when full or NATS fails. */
  subscribe(filter: FeedFilter, after?: FeedPosition): Promise<FeedSubscription>;
  /** Ends every feed. */
  stop(): void;
  stats(): EventHubStats;
}

/** Creates the {@link EventHub} of one replica. */
export function createEventHub(opts: EventHubOptions): EventHub {
  const { js, jsm, checkOf } = opts;
  const log = opts.log.child({ component: "events" });
  const maxBuffered = opts.maxBuffered ?? 1000;
  const maxClients = opts.maxClients ?? 100;
  const subs = new Set<FeedSubscription>();
  const counters = { connected: 0, slowDisconnects: 0, refused: 0, buffered: 0, malformed: 0 };

  async function lastSeq(stream: string): Promise<number> {
    try {
      return (await jsm.streams.info(stream)).state.last_seq;
    } catch (err) {
      if (isJsApiError(err, JsApiCode.StreamNotFound)) return 0;
      throw err;
    }
  }

  /** The data to send for a message, or undefined when the filter drops it. */
  function select(type: EventType, raw: JsMsg, filter: FeedFilter): string | undefined {
    if (filter.types && !filter.types.has(type)) return undefined;
    let data: { checkId?: unknown; state?: unknown; regions?: unknown };
    try {
      data = raw.json();
    } catch {
      counters.malformed++;
      return undefined;
    }
    if (typeof data !== "object" || data === null || typeof data.checkId !== "string") {
      counters.malformed++;
      return undefined;
    }
    if (filter.labels || filter.region !== undefined) {
      const check = checkOf(data.checkId);
      if (!check || !checkMatches(check, filter)) return undefined;
    }
    // Read scope: a delivery's error and result texts may name the receiver; they stay admin-only.
    if (type === "delivery") return JSON.stringify(redactDelivery(data as DeliveryRecord));
    if (type !== "status") return raw.string();
    const status = data as StatusEvent;
    if (!stateMatches(status.state, filter)) return undefined;
    return filter.region === undefined
      ? raw.string()
      : JSON.stringify({ ...status, regions: trimRegions(status.regions, filter) });
  }

  return {
    async subscribe(filter, after) {
      if (subs.size >= maxClients) {
        counters.refused++;
        throw new UnavailableError(`too many event clients on this replica (${maxClients}); try another or later`);
      }
      let position: FeedPosition;
      try {
        const [events, deliveries] = await Promise.all([lastSeq(EVENTS_STREAM), lastSeq(HOOK_LOG_STREAM)]);
        // From now, or after the client's positions (never past the end: a foreign id starts now).
        position = after
          ? { events: Math.min(after.events, events), deliveries: Math.min(after.deliveries, deliveries) }
          : { events, deliveries };
      } catch (err) {
        throw new UnavailableError(`events unavailable: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      let buffer: LiveEvent[] = [];
      let wake: (() => void) | undefined;
      let ended: FeedEnd | undefined;
      const consumers: ConsumerMessages[] = [];
      const endListeners: ((reason: FeedEnd) => void)[] = [];

      const sub: FeedSubscription = {
        get ended() {
          return ended;
        },
        onEnd(listener) {
          if (ended !== undefined) listener(ended);
          else endListeners.push(listener);
        },
        async take() {
          while (buffer.length === 0 && ended === undefined) await new Promise<void>((r) => (wake = r));
          if (ended !== undefined) return [];
          const out = buffer;
          buffer = [];
          return out;
        },
        close(reason) {
          if (ended !== undefined) return;
          ended = reason;
          subs.delete(sub);
          if (reason === "overflow") counters.slowDisconnects++;
          for (const c of consumers) void c.close().catch(() => undefined);
          buffer = [];
          wake?.();
          for (const l of endListeners.splice(0)) l(reason);
          log.debug({ reason }, "event client ended");
        },
      };

      function push(type: EventType, m: JsMsg, stream: keyof FeedPosition): void {
        if (ended !== undefined) return;
        position = { ...position, [stream]: m.seq };
        const data = select(type, m, filter);
        if (data === undefined) return;
        if (buffer.length >= maxBuffered) {
          log.info({ maxBuffered }, "event client too slow: disconnected");
          sub.close("overflow");
          return;
        }
        counters.buffered++;
        buffer.push({ id: formatEventId(position), event: type, data });
        const w = wake;
        wake = undefined;
        w?.();
      }

      async function follow(stream: string, key: keyof FeedPosition, typeOf: (m: JsMsg) => EventType | undefined) {
        const consumer = await js.consumers.get(stream, {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: position[key] + 1,
        });
        const messages = await consumer.consume({
          max_messages: 256,
          callback: (m) => {
            const type = typeOf(m);
            if (type) push(type, m, key);
            else if (ended === undefined) position = { ...position, [key]: m.seq };
          },
        });
        consumers.push(messages);
        if (ended !== undefined) await messages.close();
      }

      subs.add(sub);
      counters.connected++;
      try {
        await Promise.all([
          follow(EVENTS_STREAM, "events", (m) => {
            const kind = m.subject.slice(EVENTS_SUBJECT_PREFIX.length + 1).split(".")[0];
            return kind === "transition" || kind === "status" ? kind : undefined;
          }),
          follow(HOOK_LOG_STREAM, "deliveries", () => "delivery"),
        ]);
      } catch (err) {
        sub.close("error");
        throw new UnavailableError(`events unavailable: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      return sub;
    },
    stop() {
      for (const s of [...subs]) s.close("stopped");
    },
    stats: () => ({ clients: subs.size, ...counters }),
  };
}
