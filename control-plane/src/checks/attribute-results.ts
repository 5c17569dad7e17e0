import type { Logger } from "pino";
import type { FollowedChecks } from "../ingest/follow-checks.js";
import type { ResultRow, ResultStore } from "../store/types.js";

/** Options of {@link attributingStore}. */
export interface AttributingStoreOptions {
  /** The ingest's synchronous copy of the registry (the one the sender binding reads too). */
  checks: Pick<FollowedChecks, "record">;
  log: Logger;
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
  stats(): AttributionStats;
}

/** Why a result belongs to no live check, or undefined when it was stamped with its check's uid. */
export type AttributionDrop = "deleted" | "beforeCreation";

/**
 * Stamps `row` with the uid its check id has now (`checkUid`), or says why it belongs to no live
 * check: its id names none (deleted), or it started before the current check of that id was
 * created (a deleted check of the same id). The one rule storage and the deciders share.
 */
export function attributeResult(
  row: Pick<ResultRow, "checkId" | "startedAt" | "checkUid">,
  checks: Pick<FollowedChecks, "record">,
): AttributionDrop | undefined {
  const record = checks.record(row.checkId);
  if (!record) return "deleted";
  if (row.startedAt < record.createdAt) return "beforeCreation";
  row.checkUid = record.check.uid;
  return undefined;
}

/**
 * Wraps the store ingest writes to: a result is attributed to the uid its check id has when it
 * arrives (agents report check ids only), and stamped with it (`checkUid`, set on the row itself so
 * that what ingest hands on to consensus carries it too). A result for an id that names no check
 * (deleted) or that started before the current check of that id was created (a deleted check of
 * the same id) is not stored: it belongs to no live check. An id this replica's copy does not know
 * yet never gets here: the sender binding redelivers such results until the copy has caught up.
 */
export function attributingStore(
  store: Pick<ResultStore, "insertResults">,
  opts: AttributingStoreOptions,
): AttributingStore {
  const log = opts.log.child({ component: "attribution" });
  const stats: AttributionStats = { droppedDeleted: 0, droppedBeforeCreation: 0 };
  return {
    async insertResults(rows) {
      const kept: ResultRow[] = [];
      let deleted = 0;
      let early = 0;
      for (const row of rows) {
        const drop = attributeResult(row, opts.checks);
        if (drop === "deleted") deleted++;
        else if (drop === "beforeCreation") early++;
        else kept.push(row);
      }
      if (deleted + early > 0) {
        stats.droppedDeleted += deleted;
        stats.droppedBeforeCreation += early;
        log.info({ deleted, beforeCreation: early, ...stats }, "results of no live check dropped");
      }
      await store.insertResults(kept);
    },
    stats: () => ({ ...stats }),
  };
}
