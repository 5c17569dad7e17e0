import type { Logger } from "pino";
import type { CheckRecord } from "../checks/check-record.js";
import type { RegistryChange, RegistryWatch } from "./types.js";

/**
 * The registry's in-memory replica: every check at one revision, fed in revision order (by the
 * KV follower or by the in-memory registry), fanning changes out to watchers. Because JavaScript
 * runs one thing at a time, a snapshot taken together with a subscription can never miss a change.
 */
export interface CheckCache {
  /** Highest revision applied so far (0 = nothing yet). */
  readonly revision: number;
  /** Applies the entry of `id` at `revision` (undefined = deleted); older revisions are ignored. */
  apply(revision: number, id: string, record: CheckRecord | undefined): void;
  /** Moves the revision forward without a change (an entry that was skipped). */
  advance(revision: number): void;
  get(id: string): CheckRecord | undefined;
  /** Every check, sorted by id. */
  list(): CheckRecord[];
  watch(listener: (change: RegistryChange) => void): RegistryWatch;
}

/** Creates an empty {@link CheckCache}. */
export function createCheckCache({ log }: { log: Logger }): CheckCache {
  const checks = new Map<string, CheckRecord>();
  const listeners = new Set<(change: RegistryChange) => void>();
  let revision = 0;

  function emit(change: RegistryChange): void {
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch (err) {
        // One broken subscriber (e.g. an agent stream that just closed) must not starve the others.
        log.error({ err, version: change.version }, "registry watcher threw");
      }
    }
  }

  return {
    get revision() {
      return revision;
    },
    apply(rev, id, record) {
      if (rev <= revision) return;
      const had = checks.has(id);
      if (record) checks.set(id, record);
      else checks.delete(id);
      revision = rev;
      if (record) emit({ type: "upsert", version: rev, record });
      else if (had) emit({ type: "delete", version: rev, id });
    },
    advance(rev) {
      if (rev > revision) revision = rev;
    },
    get: (id) => checks.get(id),
    list: () => [...checks.values()].sort((a, b) => (a.check.id < b.check.id ? -1 : a.check.id > b.check.id ? 1 : 0)),
    watch(listener) {
      listeners.add(listener);
      const checksNow = [...checks.values()].sort((a, b) => (a.check.id < b.check.id ? -1 : 1));
      return {
        version: revision,
        checks: checksNow,
        stop: () => {
          listeners.delete(listener);
        },
      };
    },
  };
}
