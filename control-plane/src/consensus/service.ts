// The engine's I/O shell in the control plane: keeps its checks in step with the registry, feeds it the
// rows ingest stored, ticks it, persists incidents (surviving ClickHouse outages), warms it up after a
// restart, and hands every transition on (hooks). The engine itself stays pure.
import type { Logger } from "pino";
import { createUntrustedLog, type ResultBinding, type UntrustedCounts } from "../ingest/result-binding.js";
import type { CheckRegistry, RegistryWatch } from "../registry/types.js";
import type { OutageStore } from "../store/outages.js";
import type { ResultRow } from "../store/types.js";
import type { Enrollments } from "../trust/enrollment.js";
import type { ConsensusEngine, ConsensusStats } from "./engine.js";
import { observationFromRow } from "./observation.js";
import { createCheckTargets } from "./check-targets.js";
import { logTransition } from "./transition-log.js";
import { createIncidentSaver } from "./incident-saver.js";
import { warmUpLookbackMs } from "./policy.js";
import type { Observation, Transition } from "./types.js";

/** Options of {@link createConsensusService}. */
export interface ConsensusServiceOptions {
  engine: ConsensusEngine;
  outageStore: Pick<OutageStore, "saveOutages" | "openIncidents" | "recentObservations">;
  /** Source of checks (snapshot + changes). */
  registry: Pick<CheckRegistry, "watch">;
  log: Logger;
  /** Called with every transition after the engine decided it (e.g. to publish hook events); errors are logged. */
  onTransition?: (t: Transition) => void | Promise<void>;
  /** @default Date.now */
  now?: () => number;
  /** How often the engine is ticked (staleness) and unsaved incidents retried. @default 1000 */
  tickMs?: number;
  /** Longest history read at start to rebuild state. @default 86400000 (24 h) */
  maxWarmUpMs?: number;
  /** Most results read at start. @default 2000000 */
  maxWarmUpResults?: number;
  /**
   * The binding ingest applies, here for the results read back at warm-up (stored history, which may
   * predate it; without the subject, which rows do not keep): those that fail it never reach the
   * engine. Live rows come from ingest, which bound them before storing them, so they are not checked
   * twice; the engine's `mayVote` still refuses an agent revoked in between.
   */
  binding?: Pick<ResultBinding, "problem">;
  /** Revocations withdraw the agent's votes from the engine at once. */
  enrollments?: Pick<Enrollments, "onRevoked">;
}

/** Counters of the service, besides the engine's. */
export interface ConsensusServiceStats extends ConsensusStats {
  /** Incident versions waiting to be written to ClickHouse. */
  pendingSaves: number;
  saveFailures: number;
  /** Results handed over by ingest. */
  rowsReceived: number;
  warmUpResults: number;
  /** Warm-up results kept from the engine by the binding, per reason. */
  untrusted: UntrustedCounts;
}

/** A running consensus service; see {@link createConsensusService}. */
export interface ConsensusService {
  /** Loads checks, open incidents and recent results, then starts ticking. */
  start(): Promise<void>;
  /** Stops ticking and following the registry, then tries once more to save pending incidents. */
  stop(): Promise<void>;
  /** Feed for ingest's `onStored`: the rows just stored in ClickHouse. Never throws. */
  onStored(rows: readonly ResultRow[]): void;
  /** Resolves when every incident decided so far is in ClickHouse (or rejects with the save error). */
  flush(): Promise<void>;
  stats(): ConsensusServiceStats;
}

/** Creates the consensus service of a control plane. */
export function createConsensusService(opts: ConsensusServiceOptions): ConsensusService {
  const { engine, outageStore, registry } = opts;
  const log = opts.log.child({ component: "consensus" });
  const now = opts.now ?? Date.now;
  const tickMs = opts.tickMs ?? 1000;
  const saver = createIncidentSaver({ outageStore, log });
  let rowsReceived = 0;
  let warmUpResults = 0;
  let timer: NodeJS.Timeout | undefined;
  let watch: RegistryWatch | undefined;
  let stopRevocations: (() => void) | undefined;
  const untrusted = createUntrustedLog({ log, now });

  /** The results the binding trusts; the others are counted and logged (rate-limited). */
  function trusted<T extends Observation>(results: readonly T[]): T[] {
    const { binding } = opts;
    if (!binding) return [...results];
    const kept: T[] = [];
    for (const r of results) {
      const reason = binding.problem(r);
      if (reason === undefined) kept.push(r);
      else untrusted.drop(reason, r);
    }
    return kept;
  }

  function handle(ts: readonly Transition[]): void {
    for (const t of ts) {
      if ("outage" in t) saver.changed(t.outage);
      logTransition(log, t);
      if (opts.onTransition) {
        try {
          const r = opts.onTransition(t);
          if (r instanceof Promise)
            r.catch((err: unknown) => log.error({ err, type: t.type }, "transition handler failed"));
        } catch (err) {
          log.error({ err, type: t.type }, "transition handler failed");
        }
      }
    }
    saver.retry();
  }

  const targets = createCheckTargets(engine);

  return {
    async start() {
      stopRevocations = opts.enrollments?.onRevoked((agent) => {
        const ts = engine.removeAgent(agent.id);
        log.info(
          { agentId: agent.id, region: agent.region, transitions: ts.length },
          "revoked agent's votes withdrawn",
        );
        handle(ts);
      });
      watch = registry.watch((change) => {
        if (change.type === "upsert") handle(targets.upsert(change.record.check, change.record.createdAt));
        else handle(targets.remove(change.id));
      });
      for (const record of watch.checks) handle(targets.upsert(record.check, record.createdAt));
      const lookback = warmUpLookbackMs(
        watch.checks.map((r) => r.check),
        opts.maxWarmUpMs,
      );
      const perAgent =
        2 + Math.max(2, ...watch.checks.map((r) => Math.max(r.check.failureThreshold, r.check.recoveryThreshold)));
      const t = now();
      const [openIncidents, results] = await Promise.all([
        outageStore.openIncidents(),
        lookback > 0
          ? outageStore.recentObservations({
              since: Math.max(0, t - lookback),
              perAgent,
              limit: opts.maxWarmUpResults ?? 2_000_000,
            })
          : [],
      ]);
      warmUpResults = results.length;
      for (const o of openIncidents) saver.adopted(o);
      handle(engine.warmUp({ results: trusted(results), openIncidents }));
      log.info(
        {
          checks: watch.checks.length,
          openIncidents: openIncidents.length,
          results: results.length,
          lookbackMs: lookback,
        },
        "consensus engine warmed up",
      );
      timer = setInterval(() => {
        handle(engine.tick(now()));
        saver.grown(engine.openIncidents());
        saver.retry();
      }, tickMs);
      timer.unref();
    },

    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      watch?.stop();
      watch = undefined;
      stopRevocations?.();
      stopRevocations = undefined;
      saver.grown(engine.openIncidents());
      await saver
        .flush()
        .catch((err: unknown) => log.warn({ err, pending: saver.pending() }, "incidents not saved at shutdown"));
    },

    onStored(rows) {
      rowsReceived += rows.length;
      try {
        handle(engine.observeMany(rows.map(observationFromRow)));
      } catch (err) {
        // The engine validates its input; this is a bug, and ingest must not stall on it.
        log.error({ err, rows: rows.length }, "consensus engine failed on stored rows");
      }
    },

    flush: () => saver.flush(),

    stats() {
      return {
        ...engine.stats(),
        pendingSaves: saver.pending(),
        saveFailures: saver.failures(),
        rowsReceived,
        warmUpResults,
        untrusted: untrusted.counts(),
      };
    },
  };
}
