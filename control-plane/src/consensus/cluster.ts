// Consensus across replicas: one decider per partition this replica holds, created when its lease is
// acquired and dropped when it is lost. The registry watch, revocations and the API's questions are
// routed to the decider of the check's partition.
import { partitionOf } from "@probemesh/proto";
import type { Logger } from "pino";
import type { CheckRecord } from "../checks/check-record.js";
import type { PartitionLease, PartitionLeases } from "../cluster/types.js";
import type { FollowedChecks } from "../ingest/follow-checks.js";
import { createUntrustedLog, type ResultBinding, type UntrustedCounts } from "../ingest/result-binding.js";
import type { CheckRegistry, RegistryWatch } from "../registry/types.js";
import type { OutageStore } from "../store/outages.js";
import type { Enrollments } from "../trust/enrollment.js";
import { retryUntilAborted } from "../backoff.js";
import { createConsensusEngine, type ConsensusEngine } from "./engine.js";
import type { IncidentKv } from "./incident-kv.js";
import {
  createImpairmentBoard,
  markedReason,
  type ImpairmentBoardStats,
  type ImpairmentMarks,
} from "./impairment-marks.js";
import { createIncidentSaver } from "./incident-saver.js";
import { createPartitionDecider, type PartitionDecider, type PartitionDeciderStats } from "./partition-decider.js";
import type { OpenFeed } from "./result-feed.js";
import type { AgentHealth, CheckStatus, Observation, Outage, Transition } from "./types.js";

/** Options of {@link createConsensusCluster}. */
export interface ConsensusClusterOptions {
  /** Which partitions this replica decides (and the epochs that fence what it publishes). */
  leases: PartitionLeases;
  /** Source of checks (snapshot + changes). */
  registry: Pick<CheckRegistry, "watch">;
  /** The synchronous registry copy ingest attributes results with (the deciders use the same). */
  checks: Pick<FollowedChecks, "record">;
  /** The binding ingest applies; results it refuses never reach an engine. */
  binding?: Pick<ResultBinding, "problem">;
  /** Revocations withdraw the agent's votes at once; `mayVote` bounds every engine. */
  enrollments?: Pick<Enrollments, "onRevoked" | "mayVote">;
  openFeed: OpenFeed;
  incidents: IncidentKv;
  /**
   * Impairment shared across partitions: each decider marks the agents it judges impaired, and every
   * engine here makes an agent marked by another partition abstain. Without it impairment stays per partition.
   */
  marks?: ImpairmentMarks;
  /** Background saves of incidents to ClickHouse (history; never waited for). */
  outageStore: Pick<OutageStore, "saveOutages">;
  /** Called with every transition and its fence `{partition, epoch}`; errors are logged. */
  onTransition?: (t: Transition, fence: PartitionLease) => void | Promise<void>;
  /** Called with every result a decider accepts (metrics: the newest result per check and region); must not throw. */
  onObservation?: (o: Observation) => void;
  /** Called once a partition's decider has warmed up, with the open incidents it adopted (to re-announce them). */
  onWarmedUp?: (lease: PartitionLease, openIncidents: Outage[]) => void | Promise<void>;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** @default 1000 */
  tickMs?: number;
  /** Longest history read at a decider's warm-up. @default 86400000 (24 h) */
  maxWarmUpMs?: number;
  /** How often open outages of partitions decided elsewhere are read from KV (cross-partition `dependsOn`). @default 2000 */
  remoteEveryMs?: number;
  /** Makes each decider's engine (tests). @default createConsensusEngine with `now` and `enrollments.mayVote` */
  createEngine?: () => ConsensusEngine;
}

/** Counters of the cluster. */
export interface ConsensusClusterStats {
  /** One entry per decider this replica runs. */
  deciders: PartitionDeciderStats[];
  pendingSaves: number;
  saveFailures: number;
  /** Results the binding refused, per reason (over every decider). */
  untrusted: UntrustedCounts;
  /** Deciders started and stopped since start. */
  acquired: number;
  lost: number;
  /** Impairment marks of every partition as this replica follows them. */
  impairmentMarks: ImpairmentBoardStats;
}

/** This replica's share of consensus; see {@link createConsensusCluster}. */
export interface ConsensusCluster {
  /** Follows the registry and revocations and subscribes to the leases (call before `leases.start()`). */
  start(): Promise<void>;
  /** Stops every decider and following; then tries once more to save pending incidents to ClickHouse. */
  stop(): Promise<void>;
  /** Status of a check whose partition this replica decides; undefined otherwise (ask the owner). */
  status(checkId: string): CheckStatus | undefined;
  /** True when this replica decides the check's partition now (its status is local). */
  decides(checkId: string): boolean;
  /** The partition a check id belongs to, from the registry copy; undefined for an unknown id. */
  partitionOfCheck(checkId: string): number | undefined;
  /** Open incidents of every partition, from KV (whoever decides them). */
  openIncidents(): Promise<Outage[]>;
  /** Open incidents of the partitions this replica decides (from its engines). */
  localOpenIncidents(): Outage[];
  /**
   * An agent's health, merged over this replica's deciders and the impairment marks of partitions
   * decided elsewhere (impaired if any judges it so).
   */
  agent(agentId: string): AgentHealth | undefined;
  agents(): AgentHealth[];
  /** Resolves when every incident decided so far is saved to ClickHouse. */
  flush(): Promise<void>;
  stats(): ConsensusClusterStats;
}

/** Merges one agent's health as judged by several engines: impaired when any says so. */
function mergeHealth(list: AgentHealth[]): AgentHealth | undefined {
  const first = list[0];
  if (!first) return undefined;
  return list.find((a) => a.impaired) ?? first;
}

/** Creates the consensus of one replica over the partitions its leases give it. */
export function createConsensusCluster(opts: ConsensusClusterOptions): ConsensusCluster {
  const { leases, registry, incidents } = opts;
  const partitions = leases.partitions;
  const log = opts.log.child({ component: "consensus" });
  const now = opts.now ?? Date.now;
  const saver = createIncidentSaver({ outageStore: opts.outageStore, log });
  const untrusted = createUntrustedLog({ log, now });
  const mayVote = opts.enrollments && ((id: string, region: string) => opts.enrollments!.mayVote(id, region));
  // A dependency decided by another partition: its local decider, else the open incidents in KV as
  // last read (refreshed every `remoteEveryMs` while some partition is decided elsewhere).
  let remoteOutages = new Set<string>();
  const outageElsewhere = (checkId: string): boolean => {
    const p = routed.get(checkId);
    const d = p === undefined ? undefined : deciders.get(p)?.decider;
    return d ? d.outageOpen(checkId) : remoteOutages.has(checkId);
  };
  const newEngine =
    opts.createEngine ?? (() => createConsensusEngine({ now, outageElsewhere, ...(mayVote ? { mayVote } : {}) }));
  const deciders = new Map<number, { decider: PartitionDecider; abort: AbortController }>();
  // Each check's partition as last routed, by id: a removal names the id only, and an edit that
  // brings a new uid may move the check to another partition.
  const routed = new Map<string, number>();
  let watch: RegistryWatch | undefined;
  const stops: (() => void)[] = [];
  let acquired = 0;
  let lost = 0;
  let remoteTimer: NodeJS.Timeout | undefined;
  // Every partition's impairment marks; a change reaches each local engine at once (its transitions
  // go out through the decider's fenced path).
  const board = createImpairmentBoard({
    log,
    onChange: (agentId) => {
      for (const [p, { decider }] of deciders) decider.setExternalImpairment(agentId, board.elsewhere(agentId, p));
    },
  });
  let marksFollow: { stop(): Promise<void> } | undefined;

  async function refreshRemote(): Promise<void> {
    if (deciders.size === partitions) {
      remoteOutages = new Set();
      return;
    }
    const open = await incidents.listAll();
    remoteOutages = new Set(open.filter((o) => o.kind === "outage").map((o) => o.checkId));
  }

  const partitionOfRecord = (record: CheckRecord): number => partitionOf(record.check.uid, partitions);

  function upsert(record: CheckRecord): void {
    const p = partitionOfRecord(record);
    const before = routed.get(record.check.id);
    if (before !== undefined && before !== p) deciders.get(before)?.decider.removeCheck(record.check.id);
    routed.set(record.check.id, p);
    deciders.get(p)?.decider.upsertCheck(record);
  }

  function remove(checkId: string): void {
    const p = routed.get(checkId);
    routed.delete(checkId);
    if (p !== undefined) deciders.get(p)?.decider.removeCheck(checkId);
  }

  function checksOf(partition: number): CheckRecord[] {
    const list: CheckRecord[] = [];
    for (const [id, p] of routed) {
      if (p !== partition) continue;
      const record = opts.checks.record(id);
      if (record) list.push(record);
    }
    return list;
  }

  async function acquire(lease: PartitionLease): Promise<void> {
    const previous = deciders.get(lease.partition);
    if (previous) await drop(previous.decider.lease, "reacquired");
    const decider = createPartitionDecider({
      lease,
      partitions,
      leases,
      engine: newEngine(),
      checks: checksOf(lease.partition),
      registry: opts.checks,
      ...(opts.binding ? { binding: opts.binding } : {}),
      untrusted,
      openFeed: opts.openFeed,
      incidents,
      saver,
      ...(opts.marks ? { marks: opts.marks } : {}),
      ...(opts.onTransition ? { onTransition: opts.onTransition } : {}),
      ...(opts.onObservation ? { onObservation: opts.onObservation } : {}),
      log,
      now,
      ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
      ...(opts.maxWarmUpMs !== undefined ? { maxWarmUpMs: opts.maxWarmUpMs } : {}),
    });
    const abort = new AbortController();
    deciders.set(lease.partition, { decider, abort });
    acquired++;
    for (const agentId of board.agents()) {
      const reason = board.elsewhere(agentId, lease.partition);
      if (reason !== null) decider.setExternalImpairment(agentId, reason);
    }
    // Answers status and takes registry changes at once; decides once warmed up. A warm-up that
    // fails (NATS away) is retried for as long as the lease holds.
    await retryUntilAborted(
      { what: `warming up partition ${lease.partition}`, log, signal: abort.signal },
      async () => {
        if (!leases.holds(lease.partition, lease.epoch)) return;
        await decider.start();
      },
    );
    if (!abort.signal.aborted && leases.holds(lease.partition, lease.epoch))
      await opts.onWarmedUp?.(lease, decider.openIncidents());
  }

  async function drop(lease: PartitionLease, reason: string): Promise<void> {
    const entry = deciders.get(lease.partition);
    if (!entry || entry.decider.lease.epoch !== lease.epoch) return;
    deciders.delete(lease.partition);
    entry.abort.abort();
    lost++;
    log.info({ partition: lease.partition, epoch: lease.epoch, reason }, "partition decider dropped");
    await entry.decider.stop();
  }

  /**
   * Impaired by a partition another replica decides when no local decider says so (a local judgement
   * is current); an agent no local engine has seen gets its health from the mark alone.
   */
  function withMarks(agentId: string, h: AgentHealth | undefined): AgentHealth | undefined {
    if (h?.impaired) return h;
    const m = board.markOf(agentId, (p) => !deciders.has(p));
    if (!m) return h;
    const base = h ?? { agentId, region: m.region ?? "", checks: 0, contradicted: 0, canariesDown: 0 };
    return { ...base, impaired: true, reason: markedReason(m), since: m.since };
  }

  function local<T>(checkId: string, f: (d: PartitionDecider) => T): T | undefined {
    const p = routed.get(checkId);
    const d = p === undefined ? undefined : deciders.get(p)?.decider;
    return d ? f(d) : undefined;
  }

  return {
    async start() {
      watch = registry.watch((change) => {
        if (change.type === "upsert") upsert(change.record);
        else remove(change.id);
      });
      for (const record of watch.checks) upsert(record);
      const stopRevocations = opts.enrollments?.onRevoked((agent) => {
        for (const { decider } of deciders.values()) decider.removeAgent(agent.id);
        log.info({ agentId: agent.id, region: agent.region }, "revoked agent's votes withdrawn");
      });
      if (stopRevocations) stops.push(stopRevocations);
      marksFollow = opts.marks?.follow((key, value) => board.apply(key, value));
      stops.push(leases.onAcquired(acquire));
      stops.push(leases.onLost((lease, reason) => void drop(lease, reason)));
      remoteTimer = setInterval(
        () =>
          void refreshRemote().catch((err: unknown) =>
            log.debug({ err }, "could not read other partitions' open incidents"),
          ),
        opts.remoteEveryMs ?? 2000,
      );
      remoteTimer.unref();
      // Leases acquired before this subscription (the lease manager started first).
      await Promise.all(leases.owned().map((lease) => (deciders.has(lease.partition) ? undefined : acquire(lease))));
    },

    async stop() {
      if (remoteTimer) clearInterval(remoteTimer);
      remoteTimer = undefined;
      for (const stop of stops.splice(0)) stop();
      watch?.stop();
      watch = undefined;
      await marksFollow?.stop();
      marksFollow = undefined;
      await Promise.all([...deciders.values()].map(({ decider }) => drop(decider.lease, "stopped")));
      await saver
        .flush()
        .catch((err: unknown) => log.warn({ err, pending: saver.pending() }, "incidents not saved at shutdown"));
    },

    status: (checkId) => local(checkId, (d) => d.status(checkId)),
    decides: (checkId) => local(checkId, () => true) ?? false,
    partitionOfCheck: (checkId) => routed.get(checkId),
    openIncidents: () => incidents.listAll(),
    localOpenIncidents: () => [...deciders.values()].flatMap(({ decider }) => decider.openIncidents()),
    agent: (agentId) =>
      withMarks(agentId, mergeHealth([...deciders.values()].flatMap(({ decider }) => decider.agent(agentId) ?? []))),
    agents() {
      const byId = new Map<string, AgentHealth[]>();
      for (const { decider } of deciders.values())
        for (const a of decider.agents()) byId.set(a.agentId, [...(byId.get(a.agentId) ?? []), a]);
      for (const agentId of board.agents()) if (!byId.has(agentId)) byId.set(agentId, []);
      return [...byId.entries()].flatMap(([agentId, list]) => withMarks(agentId, mergeHealth(list)) ?? []);
    },
    flush: () => saver.flush(),
    stats: () => ({
      deciders: [...deciders.values()].map(({ decider }) => decider.stats()).sort((a, b) => a.partition - b.partition),
      pendingSaves: saver.pending(),
      saveFailures: saver.failures(),
      untrusted: untrusted.counts(),
      acquired,
      lost,
      impairmentMarks: board.stats(),
    }),
  };
}
