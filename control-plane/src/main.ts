#!/usr/bin/env node
// probemesh-control-plane: reads the config once, wires every part with explicit dependencies,
// and shuts down cleanly on SIGINT/SIGTERM.
import { hostname } from "node:os";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { createAgentDirectory } from "./agents/nats-agents.js";
import { createApi, type Readiness } from "./api/app.js";
import { startApiServer, type ApiServer } from "./api/serve.js";
import { loadConfig, redactUrl, type Config } from "./config.js";
import { ValidationError } from "./errors.js";
import { retryUntilAborted } from "./backoff.js";
import { createLifecycle } from "./lifecycle.js";
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
import { createConsensusEngine } from "./consensus/engine.js";
import { policyFromCheck } from "./consensus/policy.js";
import { createConsensusService } from "./consensus/service.js";
import { createDegradedAnnouncements, openDegradedBucket } from "./consensus/degraded-announcements.js";
import { createHooks } from "./hooks/hooks.js";
import { belatedRecovery, hookEventsFromTransition, reannouncements } from "./hooks/from-transition.js";
import type { HookEvent } from "./hooks/types.js";
import { createMaintenanceGate } from "./maintenance/hook-gate.js";
import { createSecretBox } from "./trust/secret-box.js";
import { createKvMaintenanceRegistry } from "./maintenance/registry.js";
import { createKvApiTokens } from "./trust/api-tokens.js";
import { createKvEnrollments } from "./trust/enrollments.js";
import { createDependencyGate } from "./dependencies/hook-gate.js";
import { attributingStore } from "./checks/attribute-results.js";
import { followCheckLabels } from "./checks/check-labels.js";
import { recordingIdentities } from "./checks/identity-recorder.js";
import { createCheckIdentityStore } from "./store/check-identities.js";

/** How often old result partitions are dropped. */
const RETENTION_EVERY_MS = 3_600_000;
/** Incidents resolved this recently are re-announced to hooks at start (the hooks' dedupe window). */
const HOOK_REANNOUNCE_MS = 3_600_000;
/** How often held openings are checked for the end of their maintenance window. */
const MAINTENANCE_RELEASE_EVERY_MS = 1000;
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

  const jsm = await retryUntilAborted(
    { what: "creating the results stream", log: natsLog, signal: life.signal },
    async () => {
      const m = await jetstreamManager(nc);
      await ensureResultsStream(m);
      return m;
    },
  );
  if (!jsm) return;

  const registry = createRegistry({ nc, log, secrets });
  life.onStop(() => registry.stop());
  await retryUntilAborted({ what: "loading the check registry", log, signal: life.signal }, () => registry.start());
  if (life.signal.aborted) return;

  const maintenance = createKvMaintenanceRegistry({ nc, log });
  life.onStop(() => maintenance.stop());
  await retryUntilAborted({ what: "loading maintenance windows", log, signal: life.signal }, () => maintenance.start());
  if (life.signal.aborted) return;

  const agents = createAgentDirectory({ nc, log, replicaId: `${hostname()}-${process.pid}` });
  life.onStop(() => agents.stop());
  await retryUntilAborted({ what: "opening the agent directory", log, signal: life.signal }, () => agents.start());
  if (life.signal.aborted) return;

  const enrollments = createKvEnrollments({ nc, log });
  life.onStop(() => enrollments.stop());
  await retryUntilAborted({ what: "loading agent enrollments", log, signal: life.signal }, () => enrollments.start());
  if (life.signal.aborted) return;

  const apiTokens = createKvApiTokens({ nc, log });
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
  // Results are bound to their enrolled sender; ingest and consensus apply the same binding.
  const checks = followChecks(registry);
  life.onStop(() => checks.stop());
  const binding = createResultBinding({ enrollments, check: checks.get });
  // Consensus: one engine per control plane, fed by the rows this replica's ingest stored.
  const engine = createConsensusEngine({
    now: Date.now,
    mayVote: (id: string, region: string) => enrollments.mayVote(id, region),
  });
  const outageStore = createOutageStore({ client: store.client, log });
  // Hooks: durable deliveries in JetStream; every global transition becomes one event. Publishing is
  // retried until NATS takes it (the event id is deterministic, so a retry is never a second event).
  const hooks = createHooks({ nc, log, secrets, checks: registry });
  const hooksLog = log.child({ component: "hooks" });
  // Incidents opened inside a maintenance window are held back from hooks (see HOOKS.md).
  const labels = followCheckLabels(registry);
  life.onStop(() => labels.stop());
  const maintenanceGate = createMaintenanceGate({
    windows: () => maintenance.current(),
    labelsOf: labels.labelsOf,
    log: hooksLog,
  });
  // Incidents opened while a dependency (dependsOn) is down are held back too (see HOOKS.md).
  const dependencyGate = createDependencyGate({
    incident: (checkId) => engine.status(checkId)?.outage,
    dependenciesDown: (checkId) => engine.status(checkId)?.suppressedBy ?? [],
    log: hooksLog,
  });
  const gate = (events: HookEvent[], now: number): HookEvent[] =>
    dependencyGate.filter(maintenanceGate.filter(events, now), now);
  const consensus = createConsensusService({
    engine,
    outageStore,
    registry,
    log,
    binding,
    enrollments,
    onTransition: (t) => {
      const events = "checkId" in t ? gate(hookEventsFromTransition(t, engine.status(t.checkId)), Date.now()) : [];
      if (t.type === "check.recovered") engineRecovering.add(t.checkId);
      // Enqueued one at a time, in transition order: a partial that grows into an outage must reach
      // hooks as partial.absorbed then outage.opened, never the other way round.
      if (events.length > 0)
        published = published.then(async () => {
          for (const event of events) await publishHookEvent(event);
        });
      // A check up again after its degraded announcement, without the engine's own check.recovered
      // (it went down in between, or warmed up unknown after a restart): announce the recovery.
      // Decided when its turn comes, once the check.degraded queued before it has been marked.
      else if (t.type === "check.state" && t.to === "up") {
        const checkId = t.checkId;
        published = published.then(async () => {
          if (degradedAnnouncements.has(checkId) && !engineRecovering.has(checkId))
            await announceBelatedRecovery(checkId, Date.now());
        });
      }
      return published;
    },
  });
  let published: Promise<void> = Promise.resolve();
  // Which checks have a check.degraded at hooks not yet followed by check.recovered, across restarts.
  const degradedAnnouncements = createDegradedAnnouncements({ open: () => openDegradedBucket(nc), log });
  // Checks whose engine-made check.recovered is queued: the belated one (queued before it) gives way.
  const engineRecovering = new Set<string>();
  async function publishHookEvent(event: HookEvent): Promise<void> {
    const done = await retryUntilAborted(
      { what: `publishing hook event ${event.id}`, log: hooksLog, signal: life.signal },
      () =>
        hooks.publish(event).catch((err: unknown) => {
          // A refused event will not become valid by retrying; it is logged and counted by hooks.
          if (err instanceof ValidationError) return undefined;
          throw err;
        }),
    );
    if (event.type === "check.recovered") engineRecovering.delete(event.data.checkId);
    if (!done) return;
    if (event.type === "check.degraded")
      await degradedAnnouncements.mark(event.data.checkId, Date.parse(event.timestamp));
    else if (event.type === "check.recovered") await degradedAnnouncements.clear(event.data.checkId);
  }
  /** Publishes `check.recovered` for a marked check that is up (or forgets a deleted one). */
  async function announceBelatedRecovery(checkId: string, now: number): Promise<boolean> {
    const decision = belatedRecovery(checkId, engine.status(checkId), now);
    if (decision === "forget") await degradedAnnouncements.clear(checkId);
    else if (decision) await publishHookEvent(decision);
    return decision !== undefined && decision !== "forget";
  }

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
    agentHealth: (id) => engine.agent(id),
    hooks,
    maintenance,
    consensus: {
      engine,
      outageStore,
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

  await retryUntilAborted(
    { what: "migrating ClickHouse", log: log.child({ component: "clickhouse" }), signal: life.signal },
    () => store.migrate(),
  );
  if (life.signal.aborted) return;
  log.info({ database: config.clickhouseDatabase }, "ClickHouse schema is up to date");

  await retryUntilAborted({ what: "starting hook deliveries", log: hooksLog, signal: life.signal }, () =>
    hooks.start(),
  );
  if (life.signal.aborted) return;
  life.onStop(() => hooks.stop());

  // Open incidents and recent results are loaded before the first new result is judged.
  await retryUntilAborted(
    { what: "starting consensus", log: log.child({ component: "consensus" }), signal: life.signal },
    () => consensus.start(),
  );
  if (life.signal.aborted) return;
  life.onStop(() => consensus.stop());

  // A crash between a transition and its hook event must not lose the event: announce again what
  // changed within the hooks' dedupe window (same ids, so what was delivered is not delivered twice).
  // Queued ahead of every live transition, so hooks hear them first.
  published = published.then(async () => {
    // Abandoned ones too: their end is incident.abandoned, never a recovery.
    const from = Date.now() - HOOK_REANNOUNCE_MS;
    const recent = await Promise.all([
      outageStore.listOutages({ from, state: "resolved" }),
      outageStore.listOutages({ from, state: "abandoned" }),
    ])
      .then((lists) => lists.flat())
      .catch((err: unknown) => {
        hooksLog.warn({ err }, "could not load recently closed incidents; re-announcing open ones only");
        return [];
      });
    const events = gate(
      reannouncements([...engine.openIncidents(), ...recent], (id) => engine.status(id), {
        now: Date.now(),
        dedupeWindowMs: HOOK_REANNOUNCE_MS,
      }),
      Date.now(),
    );
    for (const event of events) await publishHookEvent(event);
    if (events.length > 0) hooksLog.info({ events: events.length }, "re-announced recent incidents to hooks");
  });
  // A check degraded (and announced) before the stop that recovered meanwhile gets its check.recovered;
  // one still degraded, down or partial keeps its mark, a deleted one is forgotten.
  published = published.then(async () => {
    let recovered = 0;
    for (const mark of await degradedAnnouncements.list())
      if (await announceBelatedRecovery(mark.checkId, Date.now())) recovered++;
    if (recovered > 0) hooksLog.info({ events: recovered }, "announced recoveries of checks degraded before the start");
  });

  // An incident held by a maintenance window that is still open when the window ends is announced then.
  const releaseTimer = setInterval(() => {
    const now = Date.now();
    const held = [
      ...dependencyGate.filter(
        maintenanceGate.release(now, (checkId, outageId) => engine.status(checkId)?.outage?.id === outageId),
        now,
      ),
      ...dependencyGate.release(now),
    ];
    if (held.length > 0)
      published = published.then(async () => {
        for (const event of held) await publishHookEvent(event);
      });
  }, MAINTENANCE_RELEASE_EVERY_MS);
  life.onStop(() => clearInterval(releaseTimer));

  // Each result is attributed to the uid its check id has now; results of deleted checks are dropped.
  const attributed = attributingStore(store, { registry, log });
  life.onStop(() => attributed.stop());
  const ingest = createIngest({ nc, store: attributed, log, binding, onStored: (rows) => consensus.onStored(rows) });
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
