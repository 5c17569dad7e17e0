import { Gauge, type Registry } from "prom-client";
import type { CheckStatus, GlobalState, Observation } from "../consensus/types.js";
import type { ExportedCheckLabel } from "./check-label-names.js";

/** Every global state, one `probemesh_check_state` series each. */
export const CHECK_STATES: readonly GlobalState[] = ["up", "degraded", "partial", "down", "unknown"];

/** A check as the per-check series need it. */
export interface CheckOfSeries {
  id: string;
  labels: Readonly<Record<string, string>>;
}

/** Options of {@link createCheckSeries}. */
export interface CheckSeriesOptions {
  registry: Registry;
  /** Check labels exported as Prometheus labels (PROBEMESH_METRICS_CHECK_LABELS). @default none */
  labels?: readonly ExportedCheckLabel[];
  /** The checks of the registry now. */
  checks: () => Promise<readonly CheckOfSeries[]>;
  /** A check's status when this replica decides its partition, else undefined (its owner exports it). */
  status: (checkId: string) => CheckStatus | undefined;
}

/** The per-check series; fed with every result the deciders of this replica accept. */
export interface CheckSeries {
  /** Keeps the result if it is its region's newest for the check. */
  observe(o: Observation): void;
}

interface Snapshot {
  labels: Record<string, string>;
  state: GlobalState;
  regions: [string, Latest][];
}

interface Latest {
  startedAt: number;
  durationMs: number;
  success: boolean;
}

/**
 * `probe_success` and `probe_duration_seconds` per check and region (the newest result of the
 * region, as blackbox_exporter names them) and `probemesh_check_state` per check (one series per
 * state, 1 for the current verdict), for the checks whose partition this replica decides. A check
 * deleted or decided elsewhere loses its series at the next scrape. Series: checks × (regions × 2 +
 * 5 states).
 */
export function createCheckSeries(opts: CheckSeriesOptions): CheckSeries {
  const exported = opts.labels ?? [];
  const extra = exported.map((l) => l.name);
  const latest = new Map<string, Map<string, Latest>>();

  const labelsOf = (check: CheckOfSeries): Record<string, string> => {
    const out: Record<string, string> = { check: check.id };
    for (const l of exported) out[l.name] = check.labels[l.key] ?? "";
    return out;
  };

  // The three families are read from one snapshot: the registry collects them concurrently, and the
  // scrape that starts them shares one computation.
  let pending: Promise<Snapshot[]> | undefined;
  const snapshot = (): Promise<Snapshot[]> =>
    (pending ??= (async () => {
      try {
        const out: Snapshot[] = [];
        const live = new Set<string>();
        for (const check of await opts.checks()) {
          const status = opts.status(check.id);
          if (!status) continue;
          live.add(check.id);
          out.push({ labels: labelsOf(check), state: status.state, regions: [...(latest.get(check.id) ?? [])] });
        }
        // Deleted checks and moved partitions: forget their results so memory follows what is exported.
        for (const id of latest.keys()) if (!live.has(id)) latest.delete(id);
        return out;
      } finally {
        pending = undefined;
      }
    })());

  new Gauge({
    name: "probemesh_check_state",
    help: "The check's consensus verdict: one series per state, 1 for the current one (checks this replica decides)",
    labelNames: ["check", "state", ...extra],
    registers: [opts.registry],
    async collect() {
      const checks = await snapshot();
      this.reset();
      for (const c of checks)
        for (const state of CHECK_STATES) this.set({ ...c.labels, state }, c.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: "probe_success",
    help: "1 when the newest result of the check from the region succeeded (up or degraded), 0 when it failed (as blackbox_exporter)",
    labelNames: ["check", "region", ...extra],
    registers: [opts.registry],
    async collect() {
      const checks = await snapshot();
      this.reset();
      for (const c of checks) for (const [region, r] of c.regions) this.set({ ...c.labels, region }, r.success ? 1 : 0);
    },
  });
  new Gauge({
    name: "probe_duration_seconds",
    help: "How long the newest probe of the check from the region took, in seconds (as blackbox_exporter)",
    labelNames: ["check", "region", ...extra],
    registers: [opts.registry],
    async collect() {
      const checks = await snapshot();
      this.reset();
      for (const c of checks)
        for (const [region, r] of c.regions) this.set({ ...c.labels, region }, r.durationMs / 1000);
    },
  });
  return {
    observe(o) {
      let regions = latest.get(o.checkId);
      if (!regions) latest.set(o.checkId, (regions = new Map()));
      const prev = regions.get(o.region);
      if (prev && prev.startedAt > o.startedAt) return;
      regions.set(o.region, { startedAt: o.startedAt, durationMs: o.durationMs, success: o.state !== "down" });
    },
  };
}
