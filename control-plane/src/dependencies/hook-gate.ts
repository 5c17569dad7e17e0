import type { Logger } from "pino";
import type { Outage } from "../consensus/types.js";
import type { HookEvent, OnHeld } from "../hooks/types.js";

const OPENED = new Set<string>(["outage.opened", "partial.opened"]);
const CLOSED = new Set<string>([
  "outage.resolved",
  "partial.resolved",
  "partial.absorbed",
  "incident.abandoned",
  "check.deleted",
]);

/** Counters of the {@link DependencyGate}. */
export interface DependencyGateStats {
  /** Suppressed incidents that closed while held: never announced. */
  suppressed: number;
  /** Held openings published because every dependency recovered while the incident was still open. */
  released: number;
  /** Openings held now. */
  held: number;
}

/**
 * Decides which hook events a check's dependencies hold back. An incident the engine marked
 * suppressed (it opened while a check in `dependsOn` had an open outage; its events carry
 * `suppressedBy`) has its `*.opened` held
 * while a dependency is still down; if the incident closes meanwhile, neither its opening nor its
 * end is announced; if every dependency recovers while it is still open, the held opening is
 * published then (same id, the release time as `timestamp`), and its end later as usual. Like the
 * maintenance gate, held openings live in memory: a restart re-announces open incidents, which
 * pass through the gate again.
 */
export interface DependencyGate {
  /** The events of one transition to publish now, in order; `onHeld` is told of each event held back or dropped. */
  filter(events: readonly HookEvent[], now: number, onHeld?: OnHeld): HookEvent[];
  /** Held openings whose dependencies all recovered, their incident still open: publish them. */
  release(now: number): HookEvent[];
  stats(): DependencyGateStats;
}

/** Options of {@link createDependencyGate}. */
export interface DependencyGateOptions {
  /** The open incident (outage or partial) of a check now, if any (the engine's status): a held opening is released only while it is open. */
  incident: (checkId: string) => Outage | null | undefined;
  /** The check's dependencies that have an open outage now (the engine's status `suppressedBy`). */
  dependenciesDown: (checkId: string) => readonly string[];
  log: Logger;
}

interface Held {
  event: HookEvent;
  checkId: string;
  /** The dependencies that were down when it was held. */
  down: string[];
}

/** Creates a {@link DependencyGate}. */
export function createDependencyGate(opts: DependencyGateOptions): DependencyGate {
  const log = opts.log.child({ component: "dependency-gate" });
  const held = new Map<string, Held>();
  const counters = { suppressed: 0, released: 0 };

  function decide(event: HookEvent, onHeld: OnHeld | undefined): HookEvent[] {
    const { checkId, outageId } = event.data;
    if (outageId === undefined) return [event];
    const already = held.get(outageId);
    if (OPENED.has(event.type)) {
      if (already) {
        onHeld?.(event, { by: "dependency", checkIds: already.down });
        return [];
      }
      // The event says whether its incident was suppressed when it opened (the engine may have moved on).
      if ((event.data.suppressedBy ?? []).length === 0) return [event];
      const down = opts.dependenciesDown(checkId);
      if (down.length === 0) return [event];
      held.set(outageId, { event, checkId, down: [...down] });
      onHeld?.(event, { by: "dependency", checkIds: [...down] });
      log.info(
        { eventId: event.id, checkId, dependencies: down },
        "incident opened while a dependency is down: suppressed (announced if it outlasts them)",
      );
      return [];
    }
    if (CLOSED.has(event.type) && already) {
      held.delete(outageId);
      counters.suppressed++;
      onHeld?.(event, { by: "dependency", checkIds: already.down });
      log.info(
        { eventId: event.id, type: event.type, checkId, suppressed: counters.suppressed },
        "suppressed incident closed while its dependency was down: not announced",
      );
      return [];
    }
    return [event];
  }

  return {
    filter(events, _now, onHeld) {
      return events.flatMap((e) => decide(e, onHeld));
    },
    release(now) {
      const out: HookEvent[] = [];
      for (const [outageId, h] of held) {
        if (opts.incident(h.checkId)?.id !== outageId) {
          // Closed without its end passing through the gate (e.g. the check was deleted): nothing to announce.
          held.delete(outageId);
          continue;
        }
        if (opts.dependenciesDown(h.checkId).length > 0) continue;
        held.delete(outageId);
        counters.released++;
        out.push({ ...h.event, timestamp: new Date(now).toISOString() });
        log.info(
          { eventId: h.event.id, checkId: h.checkId },
          "dependencies recovered with the suppressed incident still open: announcing it",
        );
      }
      return out;
    },
    stats: () => ({ ...counters, held: held.size }),
  };
}
