import type { Check } from "@probemesh/proto";
import type { CheckRecord } from "../checks/check-record.js";
import type { CheckRegistry } from "../registry/types.js";

/** A synchronous copy of the registry's checks, kept in step by a watch. */
export interface FollowedChecks {
  /** The current check with this id, or undefined. */
  get(checkId: string): Check | undefined;
  /** The current record (check and creation time) with this id, or undefined. */
  record(checkId: string): CheckRecord | undefined;
  /** Ends the watch. */
  stop(): void;
}

/**
 * Follows the registry so the ingest hot path (sender binding, uid attribution) can look a check up
 * without awaiting (the registry's own `get` is asynchronous). One copy serves both. The registry
 * must have loaded (`start()`) before this is called.
 */
export function followChecks(registry: Pick<CheckRegistry, "watch">): FollowedChecks {
  const records = new Map<string, CheckRecord>();
  const watch = registry.watch((change) => {
    if (change.type === "upsert") records.set(change.record.check.id, change.record);
    else records.delete(change.id);
  });
  for (const record of watch.checks) records.set(record.check.id, record);
  return { get: (id) => records.get(id)?.check, record: (id) => records.get(id), stop: () => watch.stop() };
}
