// Incidents to ClickHouse, never in the way of deciding: the newest version of each incident waits in
// memory until a save succeeds, one batch at a time, retried on every tick while ClickHouse is away.
import type { Logger } from "pino";
import type { OutageStore } from "../store/outages.js";
import type { Outage } from "./types.js";

/** Options of {@link createIncidentSaver}. */
export interface IncidentSaverOptions {
  outageStore: Pick<OutageStore, "saveOutages">;
  log: Logger;
}

/** Saves incidents to ClickHouse in the background; see {@link createIncidentSaver}. */
export interface IncidentSaver {
  /** An incident changed (a transition carried it): saved by the next {@link retry}, never awaited. */
  changed(o: Outage): void;
  /** An incident already stored (adopted at warm-up): only its region count is remembered. */
  adopted(o: Outage): void;
  /**
   * Saves the open incidents that gained a region since last saved. A region that joins an open
   * incident changes no state, so the engine emits nothing for it; comparing on each tick keeps the
   * stored record (and GET /v1/outages) listing every region while the incident is open.
   */
  grown(open: Iterable<Outage>): void;
  /** Starts a save of what is pending (if none is running); failures stay pending. */
  retry(): void;
  /** Resolves when everything changed so far is saved (or rejects with the save error). */
  flush(): Promise<void>;
  /** Incident versions waiting to be written. */
  pending(): number;
  /** Failed save attempts. */
  failures(): number;
}

/** Creates an {@link IncidentSaver}. */
export function createIncidentSaver(opts: IncidentSaverOptions): IncidentSaver {
  const { outageStore, log } = opts;
  // Newest version of every incident not yet saved, by id: bounded by the number of live incidents.
  const pending = new Map<string, Outage>();
  // Regions saved per open incident (see grown()).
  const savedRegions = new Map<string, number>();
  let saving: Promise<void> | null = null;
  let failures = 0;

  function track(o: Outage): void {
    if (o.state === "open") savedRegions.set(o.id, o.regions.length);
    else savedRegions.delete(o.id);
  }

  /** Writes pending incidents one batch at a time; a failed batch stays pending for the next retry. */
  function save(): Promise<void> {
    if (saving) return saving;
    if (pending.size === 0) return Promise.resolve();
    const batch = [...pending.values()];
    saving = outageStore
      .saveOutages(batch)
      .then(() => {
        // Keep entries that changed again while this batch was in flight.
        for (const o of batch) if (pending.get(o.id) === o) pending.delete(o.id);
      })
      .catch((err: unknown) => {
        failures++;
        log.warn({ err, pending: pending.size }, "saving incidents failed; will retry");
        throw err;
      })
      .finally(() => {
        saving = null;
      });
    return saving;
  }

  return {
    changed(o) {
      pending.set(o.id, o);
      track(o);
    },
    adopted: track,
    grown(open) {
      for (const o of open) {
        const saved = savedRegions.get(o.id);
        if (saved === undefined || o.regions.length <= saved) continue;
        pending.set(o.id, o);
        track(o);
      }
    },
    retry() {
      if (pending.size > 0) void save().catch(() => undefined);
    },
    async flush() {
      while (pending.size > 0 || saving) {
        if (saving) await saving;
        else await save();
      }
    },
    pending: () => pending.size,
    failures: () => failures,
  };
}
