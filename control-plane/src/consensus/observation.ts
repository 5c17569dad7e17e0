import type { ResultRow } from "../store/types.js";
import type { Observation } from "./types.js";

/** The engine's view of a stored result row (the ingest's `onStored` hands rows over). */
export function observationFromRow(
  row: Pick<ResultRow, Exclude<keyof Observation, "message">> & { message?: string },
): Observation {
  return {
    checkId: row.checkId,
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
