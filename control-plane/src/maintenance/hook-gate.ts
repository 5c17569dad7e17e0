import type { Logger } from "pino";
import type { HookEvent, OnHeld } from "../hooks/types.js";
import { inMaintenanceOccurrence, maintenanceEnd } from "./in-maintenance.js";
import type { MaintenanceSubject, MaintenanceWindow } from "./types.js";

const OPENED = new Set<string>(["outage.opened", "partial.opened"]);
const CLOSED = new Set<string>([
  "outage.resolved",
  "partial.resolved",
  "partial.absorbed",
  "incident.abandoned",
  "check.deleted",
]);
/** How long a held opening whose incident closed is kept, so a late end event still finds it. */
const HELD_GRACE_MS = 3_600_000;

/** Counters of the {@link MaintenanceGate}. */
export interface MaintenanceGateStats {
  /** Events not published because their incident opened (or their error came) inside a maintenance window. */
  suppressed: number;
  /** Held openings published at the end of their maintenance, the incident still open. */
  released: number;
  /** Openings held now. */
  held: number;
}

/**
 * Decides which hook events a maintenance window holds back. An incident is judged by its
 * `confirmedAt` (when it opened): one opened inside a window of its check has its `*.opened` held;
 * if it is still open when the maintenance ends (back-to-back windows followed), the held event is
 * published then, with its own id and the end as `timestamp`; its end events are published only
 * when they come after the maintenance's end (its opening was then announced), and dropped
 * otherwise. Incidents opened before a window keep every announcement. `check.error` inside a
 * window is dropped. Degraded events are never held.
 */
export interface MaintenanceGate {
  /**
   * The events of one transition to publish now, in order (a held opening may precede its end event);
   * `onHeld` is told of each event held back or dropped, with its window.
   */
  filter(events: readonly HookEvent[], now: number, onHeld?: OnHeld): HookEvent[];
  /** Held openings whose maintenance ended and whose incident `isOpen` still: publish them. */
  release(now: number, isOpen: (checkId: string, outageId: string) => boolean): HookEvent[];
  stats(): MaintenanceGateStats;
}

/** Options of {@link createMaintenanceGate}. */
export interface MaintenanceGateOptions {
  /** The maintenance windows now known. */
  windows: () => readonly MaintenanceWindow[];
  /** The labels of a check now, for windows that select by labels. @default none (such windows match nothing) */
  labelsOf?: (checkId: string) => Readonly<Record<string, string>> | undefined;
  log: Logger;
}

interface Held {
  event: HookEvent;
  checkId: string;
  confirmedAt: number;
  windowId: string;
}

/** Creates a {@link MaintenanceGate}; its held openings live in memory (a restart re-announces open incidents). */
export function createMaintenanceGate(opts: MaintenanceGateOptions): MaintenanceGate {
  const log = opts.log.child({ component: "maintenance-gate" });
  const held = new Map<string, Held>();
  const counters = { suppressed: 0, released: 0 };

  function suppress(event: HookEvent, windowId: string, why: string, onHeld: OnHeld | undefined): void {
    counters.suppressed++;
    onHeld?.(event, { by: "maintenance", windowId });
    log.info(
      { eventId: event.id, type: event.type, checkId: event.data.checkId, windowId, suppressed: counters.suppressed },
      why,
    );
  }
  const subject = (checkId: string): MaintenanceSubject => {
    const labels = opts.labelsOf?.(checkId);
    return labels ? { id: checkId, labels } : checkId;
  };
  const at = (end: number, confirmedAt: number, now: number) => new Date(end > confirmedAt ? end : now).toISOString();

  function decide(event: HookEvent, now: number, onHeld: OnHeld | undefined): HookEvent[] {
    const windows = opts.windows();
    const { checkId, outageId, confirmedAt } = event.data;
    if (event.type === "check.error") {
      const o = inMaintenanceOccurrence(windows, subject(checkId), Date.parse(event.timestamp));
      if (!o) return [event];
      suppress(event, o.window.id, "check.error inside a maintenance window: not announced", onHeld);
      return [];
    }
    if (outageId === undefined || confirmedAt === undefined) return [event];
    const isOpened = OPENED.has(event.type);
    if (!isOpened && !CLOSED.has(event.type)) return [event];
    const o = inMaintenanceOccurrence(windows, subject(checkId), confirmedAt);
    const end = o ? maintenanceEnd(windows, subject(checkId), confirmedAt) : confirmedAt;
    if (isOpened) {
      if (!o) return [event];
      const resolvedAt = event.data.resolvedAt;
      if (resolvedAt !== undefined && resolvedAt < end) {
        suppress(event, o.window.id, "incident opened and closed inside a maintenance window: not announced", onHeld);
        return [];
      }
      if (now >= end) return [{ ...event, timestamp: at(end, confirmedAt, now) }];
      onHeld?.(event, { by: "maintenance", windowId: held.get(outageId)?.windowId ?? o.window.id });
      if (!held.has(outageId)) {
        held.set(outageId, { event, checkId, confirmedAt, windowId: o.window.id });
        log.info(
          { eventId: event.id, checkId, windowId: o.window.id, until: end },
          "incident opened inside a maintenance window: announced at its end if still open",
        );
      }
      return [];
    }
    const closedAt = event.data.resolvedAt ?? Date.parse(event.timestamp);
    const h = held.get(outageId);
    if (o && closedAt < end) {
      held.delete(outageId);
      suppress(event, o.window.id, "incident closed inside the maintenance window it opened in: not announced", onHeld);
      return [];
    }
    if (!h) return [event];
    // Closed after the maintenance ended, before its held opening was released: both go, in order.
    held.delete(outageId);
    counters.released++;
    return [{ ...h.event, timestamp: at(end, confirmedAt, now) }, event];
  }

  return {
    filter(events, now, onHeld) {
      return events.flatMap((e) => decide(e, now, onHeld));
    },
    release(now, isOpen) {
      const out: HookEvent[] = [];
      const windows = opts.windows();
      for (const [outageId, h] of held) {
        const end = maintenanceEnd(windows, subject(h.checkId), h.confirmedAt);
        if (now < end) continue;
        if (isOpen(h.checkId, outageId)) {
          held.delete(outageId);
          counters.released++;
          out.push({ ...h.event, timestamp: at(end, h.confirmedAt, now) });
          log.info(
            { eventId: h.event.id, checkId: h.checkId },
            "maintenance ended with the incident still open: announcing it",
          );
        } else if (now >= end + HELD_GRACE_MS) held.delete(outageId);
      }
      return out;
    },
    stats: () => ({ ...counters, held: held.size }),
  };
}
