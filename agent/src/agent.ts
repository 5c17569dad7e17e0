import type { AgentMetricsHooks } from "./metrics/index.js";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { resultSubject } from "@probemesh/proto";
import type { Logger } from "pino";
import { createAssignmentCache } from "./assignments/assignment-cache.js";
import {
  createAssignmentClient,
  type AssignmentClient,
  type AssignmentClientStats,
  type ChangeSource,
} from "./assignments/assignment-client.js";
import { createAssignmentSet, type AssignmentChange } from "./assignments/assignment-set.js";
import type { BackoffOptions } from "./backoff.js";
import type { AgentConfig } from "./config.js";
import { NotRunningError } from "./errors.js";
import { capabilitiesOf } from "./probes/index.js";
import type { Prober } from "./probes/types.js";
import { createControlPlaneReplicas, type ControlPlaneReplicas } from "./control-plane-replicas.js";
import { createCredentialsClient } from "./credentials/credentials-client.js";
import { agentInboxPrefix, createNatsCredentials } from "./credentials/nats-credentials.js";
import { grpcChannelCredentials } from "./grpc-credentials.js";
import { createNatsSink, type NatsSink } from "./publish/nats-sink.js";
import { openOutbox } from "./publish/outbox.js";
import { createResultBuilder } from "./publish/result-builder.js";
import { createResultPublisher, type PublisherStats, type ResultPublisher } from "./publish/result-publisher.js";
import { subjectForResult } from "./publish/result-subject.js";
import type { ResultSink } from "./publish/result-sink.js";
import { openSeqCounter, type SeqCounter } from "./publish/seq-counter.js";
import type { Clock } from "./schedule/clock.js";
import { regionSlot } from "./schedule/phase-offset.js";
import { createScheduler, type Scheduler, type SchedulerStats } from "./schedule/scheduler.js";
import { lockStateDir, type StateLock } from "./state-lock.js";
import { agentVersion } from "./version.js";

/** Longest the first NATS connection waits for credentials from the control plane. */
const FIRST_CREDENTIALS_WAIT_MS = 10_000;

/** A result sink the agent may start and close (the NATS sink does both). */
export type ManagedSink = ResultSink & { start?(): void; close?(): Promise<void> };

/** Dependencies of `createAgent`. */
export interface AgentDeps {
  config: AgentConfig;
  log: Logger;
  /** Probers by check type; their keys are the capabilities announced to the control plane. */
  probers: ReadonlyMap<string, Prober>;
  /** Where results go. @default a JetStream sink on config.natsServers */
  sink?: ManagedSink;
  /** @default systemClock() */
  clock?: Clock;
  /** @default the version in agent/package.json */
  version?: string;
  /** Heartbeat interval. @default 5000 */
  heartbeatIntervalMs?: number;
  /** Reconnect policy towards the control plane. @default { initialMs: 250, maxMs: 15000, multiplier: 2 } */
  backoff?: BackoffOptions;
  /** Shortest check interval the scheduler accepts. @default 100 */
  minIntervalMs?: number;
  /** How often a stats line is logged (0 = never). @default 60000 */
  statsLogIntervalMs?: number;
  /** Prometheus metrics (PROBEMESH_METRICS_ADDR): told every run, and time the sink. @default none */
  metrics?: AgentMetricsHooks;
}

/** Everything the agent counts, for logs and tests. */
export interface AgentStats {
  assignmentVersion: bigint;
  lastSeq: bigint;
  scheduler: SchedulerStats;
  publisher: PublisherStats;
  assignments: AssignmentClientStats;
}

/** The running agent. */
export interface Agent {
  /** Locks the state dir, opens the outbox and sequence, and starts syncing and probing. */
  start(): Promise<void>;
  /**
   * Graceful stop: no new runs, in-flight runs get up to `waitMs` and are published, the rest of
   * the results are flushed to NATS or the outbox, connections closed. @default waitMs 5000
   */
  stop(options?: { waitMs?: number }): Promise<void>;
  stats(): AgentStats;
}

interface Running {
  lock: StateLock;
  seq: SeqCounter;
  publisher: ResultPublisher;
  sink: ManagedSink;
  scheduler: Scheduler;
  client: AssignmentClient;
  version: () => bigint;
  statsTimer: ReturnType<typeof setInterval> | undefined;
  stopCredentials: () => void;
  replicas: ControlPlaneReplicas;
}

/** Wires scheduler, probers, publisher and the control-plane client from the config. */
export function createAgent(deps: AgentDeps): Agent {
  const { config } = deps;
  const log = deps.log.child({ component: "agent" });
  let running: Running | undefined;
  let stopping: Promise<void> | undefined;

  const logChange = (change: AssignmentChange, version: bigint, source: ChangeSource) => {
    // Only identifying fields: check bodies may carry secrets (headers, tokens in URLs).
    const assignmentVersion = String(version);
    if (change.kind === "remove") {
      log.info({ checkId: change.checkId, assignmentVersion, source }, "check removed");
      return;
    }
    const { id, type, version: checkVersion, intervalMs, timeoutMs } = change.check;
    log.info(
      { checkId: id, type, checkVersion, intervalMs, timeoutMs, assignmentVersion, source },
      change.previous ? "check updated" : "check assigned",
    );
  };

  return {
    async start() {
      if (running) return;
      mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
      const lock = lockStateDir(config.stateDir);
      try {
        const version = deps.version ?? agentVersion();
        const seq = openSeqCounter({ dir: config.stateDir });
        const outbox = openOutbox({
          dir: join(config.stateDir, "outbox"),
          maxBytes: config.outboxMaxBytes,
          log: deps.log,
        });
        // One current replica for the stream, heartbeats and NATS credentials alike.
        const replicas = createControlPlaneReplicas({
          addrs: config.grpcAddrs,
          agentId: config.agentId,
          channelCredentials: grpcChannelCredentials(config),
          log: deps.log,
        });
        const identity = {
          id: config.agentId,
          region: config.region,
          provider: config.provider,
          version,
          capabilities: capabilitiesOf(deps.probers),
        };
        // NATS credentials come from the control plane (short-lived, renewed); an injected sink needs none.
        let natsSink: NatsSink | undefined;
        const credentialsClient = deps.sink
          ? undefined
          : createCredentialsClient({
              replicas,
              token: config.agentToken,
              agent: identity,
            });
        const natsCredentials = credentialsClient
          ? createNatsCredentials({
              fetch: () => credentialsClient.fetch(),
              file: join(config.stateDir, "nats.creds"),
              ...(config.natsCredsFile ? { fallbackFile: config.natsCredsFile } : {}),
              log: deps.log,
              onRenewed: () => natsSink?.reconnect(),
            })
          : undefined;
        const sink: ManagedSink =
          deps.sink ??
          (natsSink = createNatsSink({
            servers: config.natsServers,
            name: config.agentId,
            log: deps.log,
            ...(config.caFile ? { caFile: config.caFile } : {}),
            credentials: () => natsCredentials?.current(),
            inboxPrefix: agentInboxPrefix(config.agentId),
            // Connecting with stale or no credentials first would only be refused.
            beforeConnect: () => natsCredentials?.firstAttempt(FIRST_CREDENTIALS_WAIT_MS) ?? Promise.resolve(),
          }));
        const publisher = createResultPublisher({
          sink: deps.metrics ? deps.metrics.sink(sink) : sink,
          outbox,
          subject: resultSubject(config.region, config.agentId),
          lingerMs: config.publishLingerMs,
          // Results mark their seq released before they leave: a restart after kill -9 numbers on without a gap.
          seq,
          log: deps.log,
          ...(deps.clock ? { clock: deps.clock } : {}),
        });
        const build = createResultBuilder({
          identity: { agentId: config.agentId, region: config.region, provider: config.provider },
          seq,
        });
        const set = createAssignmentSet({ region: config.region });
        const self = { region: config.region, agentId: config.agentId };
        const scheduler = createScheduler({
          agentId: config.agentId,
          probers: deps.probers,
          maxConcurrency: config.maxConcurrency,
          // The partition count in force when the result is built decides its subject (kept in the outbox).
          onResult: (report) => {
            deps.metrics?.onRun(report);
            publisher.publish(build(report), subjectForResult(self, report.check, set.partitions()));
          },
          log: deps.log,
          // Each region runs a check in its own slot of the interval: a failure reaches a quorum of regions sooner.
          regionSlot: (check) => regionSlot(check, config.region, set.regions()),
          ...(deps.clock ? { clock: deps.clock } : {}),
          ...(deps.minIntervalMs !== undefined ? { minIntervalMs: deps.minIntervalMs } : {}),
        });
        const client = createAssignmentClient({
          replicas,
          token: config.agentToken,
          agent: identity,
          set,
          cache: createAssignmentCache({ dir: config.stateDir, log: deps.log }),
          log: deps.log,
          onChanges: (changes, assignmentVersion, source) => {
            for (const change of changes) {
              logChange(change, assignmentVersion, source);
              if (change.kind === "remove") scheduler.remove(change.checkId);
              else scheduler.upsert(change.check);
            }
          },
          onRegions: () => void scheduler.rephase(),
          heartbeatStats: () => ({
            outboxDepth: publisher.stats().outbox.depth,
            lastSeq: seq.last(),
            schedulingLagP99Ms: scheduler.stats().lag.p99Ms,
          }),
          ...(deps.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: deps.heartbeatIntervalMs } : {}),
          ...(deps.backoff ? { backoff: deps.backoff } : {}),
          ...(deps.clock ? { clock: deps.clock } : {}),
        });
        const statsEvery = deps.statsLogIntervalMs ?? 60_000;
        const statsTimer =
          statsEvery > 0
            ? setInterval(() => {
                const s = scheduler.stats();
                const p = publisher.stats();
                log.info(
                  {
                    checks: s.checks,
                    runs: s.runs,
                    skippedSlots: s.skippedSlots,
                    lagP99Ms: s.lag.p99Ms,
                    published: p.published,
                    outboxDepth: p.outbox.depth,
                    outboxDropped: p.outbox.dropped,
                    lastSeq: String(seq.last()),
                    controlPlane: client.stats().connected,
                    controlPlaneAddr: client.stats().addr,
                  },
                  "agent stats",
                );
              }, statsEvery)
            : undefined;
        statsTimer?.unref();
        running = {
          lock,
          seq,
          publisher,
          sink,
          scheduler,
          client,
          version: () => set.version(),
          statsTimer,
          stopCredentials: () => natsCredentials?.stop(),
          replicas,
        };
        log.info(
          {
            version,
            provider: config.provider,
            grpcAddrs: config.grpcAddrs,
            grpcTls: config.caFile !== undefined,
            natsServers: config.natsServers,
            stateDir: config.stateDir,
            maxConcurrency: config.maxConcurrency,
            capabilities: capabilitiesOf(deps.probers),
            lastSeq: String(seq.last()),
            outboxDepth: outbox.depth(),
          },
          "agent starting",
        );
        natsCredentials?.start();
        sink.start?.();
        client.start();
      } catch (err) {
        lock.release();
        throw err;
      }
    },

    stop({ waitMs = 5000 } = {}) {
      const r = running;
      if (!r) return Promise.resolve();
      stopping ??= (async () => {
        if (r.statsTimer) clearInterval(r.statsTimer);
        r.stopCredentials();
        await r.client.stop();
        r.replicas.close();
        await r.scheduler.stop({ waitMs });
        await r.publisher.close({ flushMs: 2000 });
        await r.sink.close?.();
        r.seq.close();
        const p = r.publisher.stats();
        log.info(
          { published: p.published, outboxDepth: p.outbox.depth, lastSeq: String(r.seq.last()) },
          "agent stopped",
        );
        r.lock.release();
        running = undefined;
        stopping = undefined;
      })();
      return stopping;
    },

    stats() {
      const r = running;
      if (!r) throw new NotRunningError();
      return {
        assignmentVersion: r.version(),
        lastSeq: r.seq.last(),
        scheduler: r.scheduler.stats(),
        publisher: r.publisher.stats(),
        assignments: r.client.stats(),
      };
    },
  };
}
