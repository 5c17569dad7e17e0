#!/usr/bin/env node
// probemesh-control-plane: reads the config once, wires every part with explicit dependencies,
// and shuts down cleanly on SIGINT/SIGTERM.
import { hostname } from "node:os";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { createAgentDirectory } from "./agents/nats-agents.js";
import { createApi, type Readiness } from "./api/app.js";
import { startApiServer, type ApiServer } from "./api/serve.js";
import { loadConfig, redactUrl, type Config } from "./config.js";
import { ValidationError } from "./errors.js";
import { retryUntilAborted } from "./backoff.js";
import { createLifecycle } from "./lifecycle.js";
import { sleep } from "./sleep.js";
import type { AgentCredentialIssuer } from "./trust/agent-credentials.js";
import { envFilePath, withEnvFile } from "./trust/env-file.js";
import { loadAgentCredentialIssuer, natsConnectionAuth } from "./trust/nats-auth.js";
import { readServerTls, type ServerTls } from "./trust/tls-files.js";
import { createAgentService } from "./grpc/agent-service.js";
import { startGrpcServer, type GrpcServer } from "./grpc/grpc-server.js";
import { createIngest, createResultBinding, ensureResultsStream, followChecks } from "./ingest/index.js";
import { createRegistry } from "./registry/nats-registry.js";
import { createClickHouseStore } from "./store/clickhouse-store.js";
import { createOutageStore } from "./store/outages.js";
import { startRetention } from "./store/retention.js";
import { policyFromCheck } from "./consensus/policy.js";
import { createConsensusCluster } from "./consensus/cluster.js";
import { createIncidentKv, openIncidentBucket } from "./consensus/incident-kv.js";
import { createImpairmentMarks } from "./consensus/impairment-marks.js";
import { emptyResultFeedStats, jetStreamFeed } from "./consensus/result-feed.js";
import { createPartitionLeases } from "./cluster/leases.js";
import {
  allStatuses,
  forwardedStatus,
  forwardedStatuses,
  localOrForwarded,
  serveStatus,
} from "./cluster/status-forwarding.js";
import type { PartitionLease } from "./cluster/types.js";
import type { Outage, Transition } from "./consensus/types.js";
import { createDegradedAnnouncements, openDegradedBucket } from "./consensus/degraded-announcements.js";
import { createHooks } from "./hooks/hooks.js";
import { createHookRelay } from "./hooks/relay.js";
import { createEventPublisher, ensureEventsStream } from "./events/events-stream.js";
import { createEventHub } from "./events/live-feed.js";
import { createMaintenanceGate } from "./maintenance/hook-gate.js";
import { createSecretBox } from "./trust/secret-box.js";
import { createKvMaintenanceRegistry } from "./maintenance/registry.js";
import { createKvApiTokens } from "./trust/api-tokens.js";
import { createKvWatchReopens } from "./registry/kv-watch-reopens.js";
import { createKvEnrollments } from "./trust/enrollments.js";
import { createDependencyGate } from "./dependencies/hook-gate.js";
import { attributingStore } from "./checks/attribute-results.js";
import { followCheckLabels } from "./checks/check-labels.js";
import { recordingIdentities } from "./checks/identity-recorder.js";
import { createCheckIdentityStore } from "./store/check-identities.js";
import {
  consumerPending,
  createControlPlaneMetrics,
  startMetricsListener,
  type ControlPlaneMetricsSources,
} from "./metrics/index.js";

/** How often old result partitions are dropped. */
const RETENTION_EVERY_MS = 3_600_000;
/** Longest the hook relay waits for ClickHouse's recently closed incidents at start (it re-announces open ones without). */
const REANNOUNCE_LOAD_TIMEOUT_MS = 5_000;
/** A shutdown that takes longer than this is forced. */
const SHUTDOWN_GRACE_MS = 15_000;

/** The environment, plus the variables of `--env-file PATH` or PROBEMESH_ENV_FILE (the environment wins). */
function environment(args: readonly string[]): Record<string, string | undefined> {
  try {
    const path = envFilePath(args, process.env);
    return path ? withEnvFile(process.env, path) : process.env;
  } catch (err) {
    process.stderr.write(
      `probemesh-control-plane: cannot read env file: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  }
}

function readConfig(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ValidationError) {
      const problems = (err.details?.problems as { field: string; message: string }[] | undefined) ?? [];
      process.stderr.write(
        `probemesh-control-plane: invalid configuration\n${problems.map((p) => `  ${p.field}: ${p.message}`).join("\n")}\n` +
          "See control-plane/README.md for every variable and its default.\n",
      );
      process.exit(2);
    }
    throw err;
  }
}

function rootLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    base: { service: "probemesh-control-plane", pid: process.pid, host: hostname() },
    // Belt and braces: nothing logs these on purpose, but a stray object must not leak a secret.
    redact: {
      paths: [
        "apiToken",
        "secretKeys",
        "*.secretKeys",
        "*.apiToken",
        "token",
        "*.token",
        "authorization",
        "*.authorization",
        "headers.authorization",
        "*.headers.authorization",
        "req.headers.authorization",
      ],
      censor: "[redacted]",
    },
  });
}

/** Reads the TLS and NATS credential files the config names; a bad one exits 2 like a bad variable. */
function readTrustFiles(config: Config): { tls?: ServerTls; issuer?: AgentCredentialIssuer } {
  try {
    const issuer = loadAgentCredentialIssuer(config);
    return { ...(config.tls ? { tls: readServerTls(config.tls) } : {}), ...(issuer ? { issuer } : {}) };
  } catch (err) {
    process.stderr.write(
      `probemesh-control-plane: invalid configuration\n  ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === "init") {
    const { runInitCommand } = await import("./trust/init-command.js");
    process.exitCode = await runInitCommand(args.slice(1));
    return;
  }
  const config = readConfig(environment(args));
  const trust = readTrustFiles(config);
  const log = rootLogger(config);
  const life = createLifecycle({ log, graceMs: SHUTDOWN_GRACE_MS });
  life.handleProcessEvents();

  log.info(
    {
      nats: config.natsUrl.map(redactUrl),
      clickhouse: redactUrl(config.clickhouseUrl),
      database: config.clickhouseDatabase,
      httpAddr: config.httpAddr,
      grpcAddr: config.grpcAddr,
      retentionDays: config.retentionDays,
      tls: config.tls !== undefined,
      natsCreds: config.natsCredsFile !== undefined,
      issuesAgentNatsCredentials: trust.issuer !== undefined,
    },
    "starting probemesh control plane",
  );
  for (const name of config.ignored)
    log.warn(
      { variable: name },
      `${name} is set but ignored: agents are enrolled (POST /v1/agents), each with its own token`,
    );

  // Check and hook secrets are sealed at rest with PROBEMESH_SECRET_KEY (in clear only when insecure).
  const secrets = createSecretBox(config.secretKeys);
  if (!secrets.sealing)
    log.warn("PROBEMESH_SECRET_KEY is not set: check and hook secrets are stored in clear in NATS KV");

  // NATS: wait for it at start (clear log lines), then reconnect forever.
  const natsLog = log.child({ component: "nats" });
  const nc: NatsConnection | undefined = await retryUntilAborted(
    { what: "connecting to NATS", log: natsLog, signal: life.signal },
    () =>
      connect({
        servers: config.natsUrl,
        name: `probemesh-control-plane@${hostname()}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        ...natsConnectionAuth(config),
      }),
  );
  if (!nc) return;
  let natsConnected = true;
  natsLog.info({ server: nc.getServer() }, "connected to NATS");
  life.onStop(async () => {
    await nc.drain();
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        natsConnected = false;
        natsLog.warn({ server: s.server }, "disconnected from NATS; reconnecting");
      } else if (s.type === "reconnect") {
        natsConnected = true;
        natsLog.info({ server: s.server }, "reconnected to NATS");
      } else if (s.type === "error") {
        natsLog.warn({ err: s.error }, "NATS error");
      }
    }
  })();

  // Every stream and KV bucket gets PROBEMESH_JETSTREAM_REPLICAS copies (3 on a 3-node NATS cluster).
  const replicas = config.jetstreamReplicas;
  const jsm = await retryUntilAborted(
    { what: "creating the results stream", log: natsLog, signal: life.signal },
    async () => {
      const m = await jetstreamManager(nc);
      await ensureResultsStream(m, { replicas });
      await ensureEventsStream(m, { replicas });
      return m;
    },
  );
  if (!jsm) return;

  // Re-openings of every KV watcher of this replica, by bucket (GET /metrics).
  const watchReopens = createKvWatchReopens();
  const registry = createRegistry({ nc, log, secrets, replicas, watchReopens });
  life.onStop(() => registry.stop());
  await retryUntilAborted({ what: "loading the check registry", log, signal: life.signal }, () => registry.start());
  if (life.signal.aborted) return;

  const maintenance = createKvMaintenanceRegistry({ nc, log, replicas, watchReopens });
  life.onStop(() => maintenance.stop());
  await retryUntilAborted({ what: "loading maintenance windows", log, signal: life.signal }, () => maintenance.start());
  if (life.signal.aborted) return;

  const agents = createAgentDirectory({ nc, log, replicaId: config.replicaId, replicas, watchReopens });
  life.onStop(() => agents.stop());
  await retryUntilAborted({ what: "opening the agent directory", log, signal: life.signal }, () => agents.start());
  if (life.signal.aborted) return;

  const enrollments = createKvEnrollments({ nc, log, replicas, watchReopens });
  life.onStop(() => enrollments.stop());
  await retryUntilAborted({ what: "loading agent enrollments", log, signal: life.signal }, () => enrollments.start());
  if (life.signal.aborted) return;

  const apiTokens = createKvApiTokens({ nc, log, replicas, watchReopens });
  life.onStop(() => apiTokens.stop());
  await retryUntilAborted({ what: "loading API tokens", log, signal: life.signal }, () => apiTokens.start());
  if (life.signal.aborted) return;

  const store = createClickHouseStore({ url: config.clickhouseUrl, database: config.clickhouseDatabase, log });
  life.onStop(() => store.close());

  // Agents get their assignments and the API answers even while ClickHouse is still coming up:
  // results wait in JetStream, and /readyz says what is missing.
  const service = createAgentService({
    registry,
    agents,
    enrollments,
    log,
    partitions: config.partitions,
    ...(trust.issuer ? { natsCredentials: trust.issuer } : {}),
  });
  const grpcServer: GrpcServer = await startGrpcServer({
    addr: config.grpcAddr,
    service,
    log,
    ...(trust.tls ? { tls: trust.tls } : {}),
  });
  life.onStop(() => grpcServer.close());

  const ready = async (): Promise<Readiness> => ({
    nats: natsConnected && !nc.isClosed() && registry.ready(),
    clickhouse: await Promise.race([
      store.ping().catch(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
    ]),
    migrations: store.migrated(),
  });
  // One synchronous copy of the registry for ingest and the deciders: results are bound to their enrolled
  // sender (both apply the same binding) and stamped with their check's uid.
  const checks = followChecks(registry);
  life.onStop(() => checks.stop());
  const binding = createResultBinding({ enrollments, check: checks.get, partitions: config.partitions });
  // Each partition is decided by the replica holding its lease (NATS KV, compare-and-set, fencing epochs).
  const leases = createPartitionLeases({
    nc,
    log,
    replicaId: config.replicaId,
    partitions: config.partitions,
    replicas,
    watchReopens,
  });
  // ClickHouse keeps incident history; it is written in the background and never waited for.
  const outageStore = createOutageStore({ client: store.client, log });
  // Hooks: durable deliveries in JetStream; every global transition becomes one event. Publishing is
  // retried until NATS takes it (the event id is deterministic, so a retry is never a second event).
  // A delivery enqueued under a lease epoch that a newer one had replaced is refused (`fenced`).
  // Prometheus metrics (GET /metrics, PROBEMESH_METRICS_ADDR): read from each part's stats at scrape
  // time (sources are filled in below as the parts are created), histograms fed by their hooks.
  const feedStats = emptyResultFeedStats();
  const metricsSources: ControlPlaneMetricsSources = {
    consumerPending: consumerPending(jsm),
    kvWatchReopens: () => watchReopens.counts(),
    resultFeed: () => feedStats,
  };
  const metrics = createControlPlaneMetrics({ sources: metricsSources, checkLabels: config.metricsCheckLabels });
  // Check labels (maintenance windows and hook selectors pick checks by them).
  const labels = followCheckLabels(registry);
  life.onStop(() => labels.stop());
  const hooks = createHooks({
    nc,
    log,
    secrets,
    checks: registry,
    labelsOf: labels.labelsOf,
    options: { replicas },
    fence: leases.fence,
    onDelivery: metrics.onDelivery,
  });
  const hooksLog = log.child({ component: "hooks" });
  // Live events (GET /v1/events): what this replica decides goes to the events stream while it holds the lease.
  const events = createEventPublisher({ js: jetstream(nc), leases, log });
  // Consensus: one decider per partition this replica holds, each fed by its partition's results
  // straight from JetStream (never waiting on ClickHouse), its open incidents kept in NATS KV.
  // The relay is created below; transitions reach it through this indirection.
  let relayTransition: (t: Transition, fence: PartitionLease) => Promise<void> = () => Promise.resolve();
  let relayReannounce: (open: Outage[], fence: PartitionLease) => Promise<void> = () => Promise.resolve();
  const consensus = createConsensusCluster({
    leases,
    registry,
    checks,
    binding,
    enrollments,
    openFeed: jetStreamFeed(nc, log, feedStats),
    incidents: createIncidentKv(() => openIncidentBucket(nc, replicas)),
    marks: createImpairmentMarks({ nc, replicas, log, watchReopens }),
    outageStore,
    log,
    onTransition: (t, fence) => {
      metrics.onTransition(t);
      if ("checkId" in t) events.statusChanged(t, fence, consensus.status(t.checkId));
      return relayTransition(t, fence);
    },
    onObservation: metrics.onObservation,
    // A taken-over partition's open incidents are announced again (same ids: JetStream drops what the
    // previous owner already enqueued); what it decided but died before enqueuing goes out now.
    onWarmedUp: (lease, open) => relayReannounce(open, lease),
  });
  // Incidents opened inside a maintenance window are held back from hooks (see HOOKS.md).
  const maintenanceGate = createMaintenanceGate({
    windows: () => maintenance.current(),
    labelsOf: labels.labelsOf,
    log: hooksLog,
  });
  // Incidents opened while a dependency (dependsOn) is down are held back too (see HOOKS.md).
  const dependencyGate = createDependencyGate({
    incident: (checkId) => consensus.status(checkId)?.outage,
    dependenciesDown: (checkId) => consensus.status(checkId)?.suppressedBy ?? [],
    log: hooksLog,
  });
  // Transitions become hook events in one queue, in order, gated, retried until NATS takes them,
  // each carrying the fence of the lease it was decided under.
  const relay = createHookRelay({
    engine: { status: consensus.status, openIncidents: consensus.localOpenIncidents },
    // Recently closed incidents come from ClickHouse: a ClickHouse that hangs must not hold the
    // relay's queue (live events wait behind the re-announcement) for the client's 30 s timeout.
    outages: {
      listOutages: (q) =>
        Promise.race([
          outageStore.listOutages(q),
          sleep(REANNOUNCE_LOAD_TIMEOUT_MS).then(() => {
            throw new Error(`no answer from ClickHouse within ${REANNOUNCE_LOAD_TIMEOUT_MS} ms`);
          }),
        ]),
    },
    hooks: events.announcing(hooks),
    leases,
    owner: (checkId) => (consensus.decides(checkId) ? "mine" : checks.get(checkId) ? "elsewhere" : "gone"),
    maintenance: maintenanceGate,
    dependencies: dependencyGate,
    // What the gates hold back still shows on GET /v1/events (marked `held`), never at hooks.
    onHeld: events.held,
    // Which checks have a check.degraded at hooks not yet followed by check.recovered, across restarts.
    degraded: createDegradedAnnouncements({ open: () => openDegradedBucket(nc, replicas), log }),
    log,
    signal: life.signal,
  });
  relayTransition = relay.onTransition;
  relayReannounce = relay.reannounceOpen;
  Object.assign(metricsSources, {
    consensus,
    status: consensus.status,
    checks: async () => (await registry.list()).map((r) => ({ id: r.check.id, labels: r.check.labels })),
    hooks,
    relay: () => relay.stats(),
    hookType: async (id: string) => (await hooks.registry.get(id))?.hook.type,
  } satisfies ControlPlaneMetricsSources);

  // Any replica answers a check's status: its own decider's, or the owner's over NATS.
  const statusServer = serveStatus({ nc, leases, status: consensus.status, log });
  metricsSources.statusServer = () => statusServer.stats;
  life.onStop(() => statusServer.stop());
  const status = localOrForwarded({
    leases,
    partitionOf: consensus.partitionOfCheck,
    local: consensus.status,
    forwarded: forwardedStatus({ nc, partitionOf: consensus.partitionOfCheck }),
  });

  const eventHub = createEventHub({
    js: jetstream(nc),
    jsm,
    checkOf: checks.get,
    log,
    maxBuffered: config.eventsClientBuffer,
  });
  metricsSources.eventHub = () => eventHub.stats();
  metricsSources.eventPublisher = () => events.stats();

  const identities = createCheckIdentityStore({ client: store.client, log });
  const app = createApi({
    config,
    registry: recordingIdentities(registry, { identities, log }),
    store,
    agents,
    enrollments,
    apiTokens,
    ready,
    log,
    agentHealth: (id) => consensus.agent(id),
    hooks,
    maintenance,
    metrics,
    events: eventHub,
    statuses: (ids) =>
      allStatuses(ids, {
        leases,
        partitionOf: consensus.partitionOfCheck,
        local: consensus.status,
        forwarded: forwardedStatuses({ nc }),
      }),
    consensus: {
      status,
      outageStore,
      latencyBuckets: (q) => outageStore.latencyBuckets(q),
      history: { identities, results: store },
      lookupCheck: async (id) => {
        const record = await registry.get(id);
        return record
          ? { ...policyFromCheck(record.check), createdAt: record.createdAt, labels: record.check.labels }
          : undefined;
      },
    },
  });
  const apiServer: ApiServer = await startApiServer({
    addr: config.httpAddr,
    app,
    log,
    ...(trust.tls ? { tls: trust.tls } : {}),
  });
  life.onStop(() => apiServer.close());
  if (config.metricsAddr) {
    const listener = await startMetricsListener({
      addr: config.metricsAddr,
      metrics,
      log: log.child({ component: "metrics" }),
    });
    life.onStop(() => listener.close());
  }
  // Stops run in reverse: event streams end first, so closing the server does not wait on them.
  life.onStop(() => eventHub.stop());

  await retryUntilAborted({ what: "starting hook deliveries", log: hooksLog, signal: life.signal }, () =>
    hooks.start(),
  );
  if (life.signal.aborted) return;
  life.onStop(() => hooks.stop());

  // Deciding needs NATS only: deciders start (and warm up from KV and JetStream) before ClickHouse is
  // even reachable. Each partition's open incidents and recent results are loaded before its first live result.
  // Stopped after consensus (stops run in reverse): deciders hand their state to KV while they still hold.
  life.onStop(() => leases.stop());
  await consensus.start();
  life.onStop(() => consensus.stop());
  await retryUntilAborted(
    { what: "acquiring partitions", log: log.child({ component: "leases" }), signal: life.signal },
    () => leases.start(),
  );
  if (life.signal.aborted) return;

  // Re-announces recent incidents and belated recoveries ahead of every live result, then releases
  // held openings as their maintenance ends or their dependencies recover.
  void relay.start();
  life.onStop(() => relay.stop());

  await retryUntilAborted(
    { what: "migrating ClickHouse", log: log.child({ component: "clickhouse" }), signal: life.signal },
    () => store.migrate(),
  );
  if (life.signal.aborted) return;
  log.info({ database: config.clickhouseDatabase }, "ClickHouse schema is up to date");

  // Storage only: each result is attributed to the uid its check id has now (results of deleted checks
  // are dropped), inserted, then acked. Consensus reads the stream on its own.
  const attributed = attributingStore(store, { checks, log });
  const ingest = createIngest({ nc, store: metrics.timedStore(attributed), log, binding });
  metricsSources.ingest = () => ingest.stats();
  // Registered before start() so a shutdown during start still stops it; ingest stops before the store closes.
  life.onStop(() => ingest.stop());
  await ingest.start();

  const retention = startRetention({ store, retentionDays: config.retentionDays, log, everyMs: RETENTION_EVERY_MS });
  life.onStop(() => retention.stop());

  log.info(
    {
      api: `${trust.tls ? "https" : "http"}://${apiServer.addr}`,
      grpc: grpcServer.addr,
      checks: (await registry.list()).length,
    },
    "probemesh control plane ready",
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `probemesh-control-plane: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
