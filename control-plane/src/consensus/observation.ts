import type { ResultRow } from "../store/types.js";
import type { Observation } from "./types.js";

/** The engine's view of a stored result row (the ingest's `onStored` hands rows over). */
export function observationFromRow(
  row: Pick<ResultRow, Exclude<keyof Observation, "message" | "checkUid">> & { message?: string; checkUid?: string },
): Observation {
  return {
    checkId: row.checkId,
    ...(row.checkUid !== undefined ? { checkUid: row.checkUid } : {}),
    agentId: row.agentId,
    region: row.region,
    startedAt: row.startedAt,
    durationMs: row.durationMs,
    state: row.state,
    reason: row.reason,
    ...(row.message ? { message: row.message } : {}),
    canary: row.canary,
    checkVersion: row.checkVersion,
  };
}
