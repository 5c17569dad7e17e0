import type { CheckRegistry } from "../registry/types.js";

/** The labels of every live check, kept in step with the registry (synchronous reads). */
export interface CheckLabels {
  /** The labels of a check, or undefined when it has none or does not exist. */
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
  const watch = registry.watch((change) => {
    if (change.type === "upsert") set(change.record.check.id, change.record.check.labels);
    else labels.delete(change.id);
  });
  for (const r of watch.checks) set(r.check.id, r.check.labels);
  return { labelsOf: (id) => labels.get(id), stop: () => watch.stop() };
}
