// One owned partition's decisions, straight from the results stream: its own engine, warmed up from
// the partition's open incidents in KV and its recent results in JetStream, then fed live from the
// same ordered consumer. ClickHouse is written to in the background and never waited for.
import { fromBinary } from "@bufbuild/protobuf";
import { ProbeResultSchema, partitionOf } from "@probemesh/proto";
import type { Logger } from "pino";
import { attributeResult } from "../checks/attribute-results.js";
import type { CheckRecord } from "../checks/check-record.js";
import type { PartitionLease, PartitionLeases } from "../cluster/types.js";
import type { FollowedChecks } from "../ingest/follow-checks.js";
import type { ResultBinding, UntrustedLog } from "../ingest/result-binding.js";
import { resultToRow } from "../ingest/result-to-row.js";
import { createCheckTargets } from "./check-targets.js";
import type { ConsensusEngine, ConsensusStats } from "./engine.js";
import type { IncidentKv } from "./incident-kv.js";
import type { IncidentSaver } from "./incident-saver.js";
import { createMarkWriter, type ImpairmentMarks } from "./impairment-marks.js";
import { createOrderedWriter } from "./ordered-writer.js";
import { observationFromRow } from "./observation.js";
import { warmUpLookbackMs } from "./policy.js";
import type { Feed, FeedMessage, OpenFeed } from "./result-feed.js";
import { logTransition } from "./transition-log.js";
import { sleep } from "../sleep.js";
import type { AgentHealth, CheckStatus, Observation, Outage, Transition } from "./types.js";

/** Options of {@link createPartitionDecider}. */
export interface PartitionDeciderOptions {
  /** The partition this decider decides, and the epoch it holds it at. */
  lease: PartitionLease;
  /** Number of partitions of the mesh (a check belongs to `partitionOf(uid, partitions)`). */
  partitions: number;
  /** Asked before every write and every transition handed on: nothing is done for a lease no longer held. */
  leases: Pick<PartitionLeases, "holds">;
  /** A fresh engine for this partition (impairment is judged per partition). */
  engine: ConsensusEngine;
  /** The partition's checks at acquisition; later changes come through {@link PartitionDecider.upsertCheck}. */
  checks: readonly CheckRecord[];
  /** The synchronous registry copy results are attributed with (the uid stamp ingest applies too). */
  registry: Pick<FollowedChecks, "record">;
  /** The binding ingest applies (sender, enrollment, assignment, partition). Without it every result is trusted. */
  binding?: Pick<ResultBinding, "problem">;
  /** Counts and logs results the binding refuses (shared by the deciders of a replica). */
  untrusted?: Pick<UntrustedLog, "drop">;
  openFeed: OpenFeed;
  /** Open incidents by partition (adopted at warm-up, written on every change). */
  incidents: IncidentKv;
  /** Background ClickHouse saves (shared by the deciders of a replica). */
  saver: IncidentSaver;
  /** Where agents this partition judges impaired are marked for the other partitions. Without it nothing is shared. */
  marks?: Pick<ImpairmentMarks, "put" | "delete" | "list">;
  /** Called with every transition and the fence it was decided under; errors are logged. */
  onTransition?: (t: Transition, fence: PartitionLease) => void | Promise<void>;
  /** Called with every result the decider accepts, warm-up included (metrics); must not throw. */
  onObservation?: (o: Observation) => void;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** How often the engine is ticked and unsaved incidents retried. @default 1000 */
  tickMs?: number;
  /** Longest history read at warm-up. @default 86400000 (24 h) */
  maxWarmUpMs?: number;
  /** Longest a graceful stop keeps retrying pending KV writes (while the lease holds). @default 3000 */
  kvDrainMs?: number;
}

/** Counters of one decider, besides its engine's. */
export interface PartitionDeciderStats extends ConsensusStats {
  partition: number;
  epoch: number;
  /** True once warmed up and deciding live. */
  live: boolean;
  /** Stream messages read (warm-up and live). */
  messages: number;
  warmUpResults: number;
  /** Messages that are no valid probe result. */
  malformed: number;
  /** Results the binding refused. */
  untrusted: number;
  /** Results of no live check (deleted, or started before the check of that id was created). */
  unattributed: number;
  /** Results whose check belongs to another partition (a partition token that was not the check's). */
  otherPartition: number;
  /** Transitions dropped because the lease no longer held when they were decided. */
  fencedOff: number;
  /** Incident versions waiting to be written to KV. */
  pendingKv: number;
  kvFailures: number;
  /** Impairment marks waiting to be written, and writes that failed. */
  pendingMarks: number;
  markFailures: number;
}

/** A running decider; see {@link createPartitionDecider}. */
export interface PartitionDecider {
  readonly lease: PartitionLease;
  /** Warms up (KV incidents + replayed results until caught up), then decides live and ticks. */
  start(): Promise<void>;
  /** Stops reading and ticking; nothing more is written or handed on. */
  stop(): Promise<void>;
  upsertCheck(record: CheckRecord): void;
  removeCheck(checkId: string): void;
  /** Withdraws a revoked agent's votes. */
  removeAgent(agentId: string): void;
  /** Another partition judges the agent impaired (`reason`) or no longer does (null); see the engine's. */
  setExternalImpairment(agentId: string, reason: string | null): void;
  /** True when the check is one of this decider's. */
  hasCheck(checkId: string): boolean;
  /** True while the check has an open outage (not a partial) here; cheap, for other engines' dependencies. */
  outageOpen(checkId: string): boolean;
  status(checkId: string): CheckStatus | undefined;
  agents(): AgentHealth[];
  agent(agentId: string): AgentHealth | undefined;
  openIncidents(): Outage[];
  stats(): PartitionDeciderStats;
}

/** Creates the decider of one owned partition; nothing happens until start(). */
export function createPartitionDecider(opts: PartitionDeciderOptions): PartitionDecider {
  const { lease, leases, engine, incidents, saver, partitions } = opts;
  const { partition, epoch } = lease;
  const fence: PartitionLease = { partition, epoch };
  const log = opts.log.child({ component: "consensus", partition, epoch });
  const now = opts.now ?? Date.now;
  const tickMs = opts.tickMs ?? 1000;
  const kvDrainMs = opts.kvDrainMs ?? 3000;
  const targets = createCheckTargets(engine);
  const counters = {
    messages: 0,
    warmUpResults: 0,
    malformed: 0,
    untrusted: 0,
    unattributed: 0,
    otherPartition: 0,
    fencedOff: 0,
  };
  let stopped = false;
  /** stop() runs: no more input (results, ticks), pending KV writes drain. */
  let stopping = false;
  let live = false;
  let feed: Feed | undefined;
  let timer: NodeJS.Timeout | undefined;

  const held = (): boolean => !stopped && leases.holds(partition, epoch);

  // KV decision state: the newest version of each changed incident, written one at a time in order.
  const kvWriter = createOrderedWriter<Outage>({
    write: (id, o) => (o.state === "open" ? incidents.put(partition, o) : incidents.delete(partition, id)),
    held,
    onFailure: (err, outageId, pending) =>
      log.warn({ err, outageId, pending }, "writing incident state to KV failed; will retry"),
  });
  // Regions written per open incident: a region joining changes no state (no transition), so ticks compare.
  const kvRegions = new Map<string, number>();

  // Impairment marks: what this engine judges, for the other partitions; reconciled once after warm-up.
  const markWriter = opts.marks && createMarkWriter({ marks: opts.marks, partition, held, log });
  let marksReconciled = !opts.marks;
  let reconciling = false;

  /** After a takeover: marks this engine's verdicts lack are written, marks it no longer holds are deleted. */
  async function reconcileMarks(): Promise<void> {
    if (marksReconciled || reconciling || !opts.marks || !markWriter) return;
    reconciling = true;
    try {
      const stored = await opts.marks.list(partition);
      if (stopping) return;
      const impaired = new Map(engine.agents().flatMap((a) => (a.impaired ? [[a.agentId, a] as const] : [])));
      for (const [agentId, a] of impaired)
        if (!markWriter.pending(agentId) && stored.get(agentId)?.reason !== a.reason)
          markWriter.set(agentId, { reason: a.reason, since: a.since, region: a.region });
      for (const agentId of stored.keys())
        if (!impaired.has(agentId) && !markWriter.pending(agentId)) markWriter.set(agentId, null);
      marksReconciled = true;
      void markWriter.flush();
    } catch (err) {
      log.warn({ err }, "reading impairment marks failed; will retry");
    } finally {
      reconciling = false;
    }
  }

  function kvChanged(o: Outage): void {
    kvWriter.set(o.id, o);
    if (o.state === "open") kvRegions.set(o.id, o.regions.length);
    else kvRegions.delete(o.id);
  }

  function kvGrown(): void {
    for (const o of engine.openIncidents()) {
      const written = kvRegions.get(o.id);
      if (written !== undefined && o.regions.length > written) kvChanged(o);
    }
  }

  // Checks with an open outage, for the dependencies of checks other engines decide.
  const outages = new Set<string>();
  function trackOutage(o: Outage): void {
    if (o.kind !== "outage") return;
    if (o.state === "open") outages.add(o.checkId);
    else outages.delete(o.checkId);
  }

  function handle(ts: readonly Transition[]): void {
    if (ts.length === 0) return;
    if (!held()) {
      // Another replica may be deciding this partition now: nothing decided here may leave.
      counters.fencedOff += ts.length;
      log.debug({ transitions: ts.length }, "transitions dropped: the partition's lease no longer holds");
      return;
    }
    for (const t of ts) {
      if ("outage" in t) {
        saver.changed(t.outage);
        kvChanged(t.outage);
        trackOutage(t.outage);
      } else if (t.type === "agent.impaired" || t.type === "agent.recovered")
        markWriter?.set(
          t.agentId,
          t.type === "agent.impaired" ? { reason: t.reason, since: t.at, region: t.region } : null,
        );
      logTransition(log, t);
      if (!opts.onTransition) continue;
      try {
        const r = opts.onTransition(t, fence);
        if (r instanceof Promise)
          r.catch((err: unknown) => log.error({ err, type: t.type }, "transition handler failed"));
      } catch (err) {
        log.error({ err, type: t.type }, "transition handler failed");
      }
    }
    saver.retry();
    void kvWriter.flush();
    void markWriter?.flush();
  }

  /** A stream message as the engine sees it, or undefined (counted) when it is none of this decider's. */
  function observation(m: FeedMessage): Observation | undefined {
    counters.messages++;
    let row;
    try {
      row = resultToRow(fromBinary(ProbeResultSchema, m.data));
    } catch {
      // Ingest logs malformed messages (it sees every one); counted here only.
      counters.malformed++;
      return undefined;
    }
    const reason = opts.binding?.problem(row, m.subject);
    if (reason !== undefined) {
      counters.untrusted++;
      opts.untrusted?.drop(reason, row, m.subject);
      return undefined;
    }
    if (attributeResult(row, opts.registry) !== undefined) {
      counters.unattributed++;
      return undefined;
    }
    if (partitionOf(row.checkUid ?? "", partitions) !== partition) {
      counters.otherPartition++;
      return undefined;
    }
    return observationFromRow(row);
  }

  const warmUp: Observation[] = [];
  let caughtUp: () => void = () => undefined;
  const warmedUp = new Promise<void>((resolve) => (caughtUp = resolve));

  function onMessage(m: FeedMessage): void {
    if (stopping) return;
    const o = observation(m);
    if (!o) return;
    opts.onObservation?.(o);
    if (!live) {
      warmUp.push(o);
      return;
    }
    try {
      handle(engine.observeMany([o]));
    } catch (err) {
      // The engine validates its input; this is a bug, and the feed must not stall on it.
      log.error({ err, checkId: o.checkId }, "consensus engine failed on a result");
    }
  }

  return {
    lease: fence,

    async start() {
      for (const record of opts.checks) handle(targets.upsert(record.check, record.createdAt));
      const lookback = warmUpLookbackMs(
        opts.checks.map((r) => r.check),
        opts.maxWarmUpMs,
      );
      const openIncidents = await incidents.list(partition);
      if (stopping) return;
      const t = now();
      feed = await opts.openFeed(
        { partition, since: t - lookback },
        { message: onMessage, caughtUp: () => caughtUp() },
      );
      if (stopping) {
        await feed.stop();
        return;
      }
      await warmedUp;
      if (stopping) return;
      counters.warmUpResults = warmUp.length;
      for (const o of openIncidents) {
        saver.adopted(o);
        kvRegions.set(o.id, o.regions.length);
      }
      live = true;
      handle(engine.warmUp({ results: warmUp.splice(0), openIncidents }));
      for (const o of engine.openIncidents()) trackOutage(o);
      void reconcileMarks();
      log.info(
        {
          checks: opts.checks.length,
          openIncidents: openIncidents.length,
          results: counters.warmUpResults,
          lookbackMs: lookback,
        },
        "partition decider warmed up",
      );
      timer = setInterval(() => {
        if (stopping) return;
        handle(engine.tick(now()));
        if (!held()) return;
        saver.grown(engine.openIncidents());
        saver.retry();
        kvGrown();
        void kvWriter.flush();
        void reconcileMarks();
        void markWriter?.flush();
      }, tickMs);
      timer.unref();
    },

    async stop() {
      if (stopped || stopping) return;
      stopping = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await feed?.stop();
      feed = undefined;
      // A graceful stop hands the decision state over: what is decided reaches KV while the lease
      // still holds (retried for a while), so the next owner adopts it. A lost lease writes nothing.
      const deadline = performance.now() + kvDrainMs;
      const drained = async (): Promise<boolean> => (await kvWriter.flush()) && ((await markWriter?.flush()) ?? true);
      while (!(await drained()) && held() && performance.now() < deadline) await sleep(100);
      stopped = true;
      caughtUp();
      warmUp.length = 0;
      log.info({ ...counters, kvFailures: kvWriter.failures, pendingKv: kvWriter.size }, "partition decider stopped");
    },

    upsertCheck(record) {
      if (!stopping) handle(targets.upsert(record.check, record.createdAt));
    },
    removeCheck(checkId) {
      if (!stopping) handle(targets.remove(checkId));
    },
    removeAgent(agentId) {
      if (stopping) return;
      // A revoked agent is judged nowhere any more: its mark goes with it.
      if (engine.agent(agentId)?.impaired && held()) markWriter?.set(agentId, null);
      handle(engine.removeAgent(agentId));
    },
    setExternalImpairment(agentId, reason) {
      if (!stopping) handle(engine.setExternalImpairment(agentId, reason));
    },
    hasCheck: (checkId) => targets.uidOf(checkId) !== undefined,
    outageOpen: (checkId) => outages.has(checkId),
    status: (checkId) => engine.status(checkId),
    agents: () => engine.agents(),
    agent: (agentId) => engine.agent(agentId),
    openIncidents: () => engine.openIncidents(),
    stats: () => ({
      ...engine.stats(),
      ...counters,
      partition,
      epoch,
      live,
      pendingKv: kvWriter.size,
      kvFailures: kvWriter.failures,
      pendingMarks: markWriter?.size ?? 0,
      markFailures: markWriter?.failures ?? 0,
    }),
  };
}
