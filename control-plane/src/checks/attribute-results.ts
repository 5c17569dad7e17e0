import type { Logger } from "pino";
import type { CheckRegistry, RegistryWatch } from "../registry/types.js";
import type { ResultRow, ResultStore } from "../store/types.js";

/** Options of {@link attributingStore}. */
export interface AttributingStoreOptions {
  registry: Pick<CheckRegistry, "watch" | "get">;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /**
   * How long an id the registry said does not exist is not asked about again (results of a
   * deleted check keep coming until its agents hear of the deletion). @default 5000
   */
  absentForMs?: number;
}

/** Counters of {@link attributingStore}. */
export interface AttributionStats {
  /** Results dropped because their check id names no check (deleted). */
  droppedDeleted: number;
  /** Results dropped because they started before their check id's current check was created. */
  droppedBeforeCreation: number;
}

/** The ingest's store, stamping each result with its check's uid. */
export interface AttributingStore extends Pick<ResultStore, "insertResults"> {
  stop(): void;
  stats(): AttributionStats;
}

/**
 * Wraps the store ingest writes to: a result is attributed to the uid its check id has when it
 * arrives (agents report check ids only), and stamped with it (`checkUid`, set on the row itself so
 * that what ingest hands on to consensus carries it too). A result for an id that names no check
 * (deleted) or that started before the current check of that id was created (a deleted check of
 * the same id) is not stored: it belongs to no live check. Ids unknown to the local copy of the
 * registry are looked up once more (the registry syncs) before their results are dropped.
 */
export function attributingStore(
  store: Pick<ResultStore, "insertResults">,
  opts: AttributingStoreOptions,
): AttributingStore {
  const log = opts.log.child({ component: "attribution" });
  const live = new Map<string, { uid: string; createdAt: number }>();
  const now = opts.now ?? Date.now;
  const absentForMs = opts.absentForMs ?? 5000;
  // Ids the registry said do not exist, until when that answer is trusted. A creation arrives
  // through the watch (into `live`), which is consulted first, so this never hides a live check.
  const absent = new Map<string, number>();
  const stats: AttributionStats = { droppedDeleted: 0, droppedBeforeCreation: 0 };
  const watch: RegistryWatch = opts.registry.watch((change) => {
    if (change.type === "upsert")
      live.set(change.record.check.id, { uid: change.record.check.uid, createdAt: change.record.createdAt });
    else live.delete(change.id);
  });
  for (const r of watch.checks) live.set(r.check.id, { uid: r.check.uid, createdAt: r.createdAt });

  return {
    async insertResults(rows) {
      const t = now();
      for (const [id, until] of absent) if (until <= t) absent.delete(id);
      const unknown = [
        ...new Set(rows.filter((r) => !live.has(r.checkId) && !absent.has(r.checkId)).map((r) => r.checkId)),
      ];
      for (const id of unknown) {
        const record = await opts.registry.get(id);
        if (record && !live.has(id)) live.set(id, { uid: record.check.uid, createdAt: record.createdAt });
        else if (!record) absent.set(id, t + absentForMs);
      }
      const kept: ResultRow[] = [];
      let deleted = 0;
      let early = 0;
      for (const row of rows) {
        const check = live.get(row.checkId);
        if (!check) deleted++;
        else if (row.startedAt < check.createdAt) early++;
        else {
          row.checkUid = check.uid;
          kept.push(row);
        }
      }
      if (deleted + early > 0) {
        stats.droppedDeleted += deleted;
        stats.droppedBeforeCreation += early;
        log.info({ deleted, beforeCreation: early, ...stats }, "results of no live check dropped");
      }
      await store.insertResults(kept);
    },
    stop: () => watch.stop(),
    stats: () => ({ ...stats }),
  };
}
