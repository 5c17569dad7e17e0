/** Most check labels PROBEMESH_METRICS_CHECK_LABELS may export (each multiplies no series, but adds a label to every per-check series). */
export const MAX_CHECK_LABELS = 10;

/** Label names the per-check series use themselves, or Prometheus sets or reserves. */
const RESERVED = new Set(["check", "region", "state", "job", "instance", "le", "quantile"]);

/** A check label exported as a Prometheus label: the check's key and the label name it gets. */
export interface ExportedCheckLabel {
  /** The check's label key (`team`). */
  key: string;
  /** The Prometheus label name (`team`; `a.b-c` becomes `a_b_c`). */
  name: string;
}

/** A check label key as a Prometheus label name: characters outside `[a-zA-Z0-9_]` become `_`, a leading digit gets `_`. */
export function prometheusLabelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * Parses PROBEMESH_METRICS_CHECK_LABELS (`team,env`): the check labels exported on every per-check
 * series. Throws an Error naming the problem for an empty entry, a duplicate, a reserved name
 * (check, region, state, job, instance, le, quantile, `__*`) or more than {@link MAX_CHECK_LABELS}.
 */
export function parseCheckLabelNames(value: string | undefined): ExportedCheckLabel[] {
  const raw = (value ?? "").trim();
  if (raw === "") return [];
  const out: ExportedCheckLabel[] = [];
  const seen = new Set<string>();
  for (const entry of raw.split(",")) {
    const key = entry.trim();
    if (key === "") throw new Error(`empty entry in the comma-separated list (got ${JSON.stringify(raw)})`);
    const name = prometheusLabelName(key);
    if (RESERVED.has(name) || name.startsWith("__"))
      throw new Error(`"${key}" would be the label "${name}", which the per-check series use or Prometheus reserves`);
    if (seen.has(name)) throw new Error(`"${key}" is listed twice (as the label "${name}")`);
    seen.add(name);
    out.push({ key, name });
  }
  if (out.length > MAX_CHECK_LABELS)
    throw new Error(`at most ${MAX_CHECK_LABELS} labels (got ${out.length}): each is on every per-check series`);
  return out;
}
