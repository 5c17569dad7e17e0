import type { Check } from "@probemesh/proto";
import type { CheckRegistry } from "../registry/types.js";

/** A synchronous copy of the registry's checks, kept in step by a watch. */
export interface FollowedChecks {
  /** The current check with this id, or undefined. */
  get(checkId: string): Check | undefined;
  /** Ends the watch. */
  stop(): void;
}

/**
 * Follows the registry so the ingest hot path can look a check up without awaiting (the registry's
 * own `get` is asynchronous). The registry must have loaded (`start()`) before this is called.
 */
export function followChecks(registry: Pick<CheckRegistry, "watch">): FollowedChecks {
  const checks = new Map<string, Check>();
  const watch = registry.watch((change) => {
    if (change.type === "upsert") checks.set(change.record.check.id, change.record.check);
    else checks.delete(change.id);
  });
  for (const record of watch.checks) checks.set(record.check.id, record.check);
  return { get: (id) => checks.get(id), stop: () => watch.stop() };
}
