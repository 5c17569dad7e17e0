import type { CheckRegistry } from "../registry/types.js";

/** Deleted checks whose labels are remembered (their last events still reach hooks selecting by label). */
const REMEMBERED_DELETED = 1024;

/** The labels of every live check, kept in step with the registry (synchronous reads). */
export interface CheckLabels {
  /** The labels of a check (or of one of the last deleted), or undefined when it has none or is unknown. */
  labelsOf(checkId: string): Readonly<Record<string, string>> | undefined;
  stop(): void;
}

/** Follows the registry for the checks' labels (maintenance windows select checks by them). */
export function followCheckLabels(registry: Pick<CheckRegistry, "watch">): CheckLabels {
  const labels = new Map<string, Readonly<Record<string, string>>>();
  const set = (id: string, value: Record<string, string>) => {
    if (Object.keys(value).length > 0) labels.set(id, value);
    else labels.delete(id);
  };
  const deleted = new Map<string, Readonly<Record<string, string>>>();
  const watch = registry.watch((change) => {
    if (change.type === "upsert") {
      deleted.delete(change.record.check.id);
      set(change.record.check.id, change.record.check.labels);
      return;
    }
    const last = labels.get(change.id);
    labels.delete(change.id);
    if (!last) return;
    deleted.set(change.id, last);
    if (deleted.size > REMEMBERED_DELETED) deleted.delete(deleted.keys().next().value as string);
  });
  for (const r of watch.checks) set(r.check.id, r.check.labels);
  return { labelsOf: (id) => labels.get(id) ?? deleted.get(id), stop: () => watch.stop() };
}
