import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import type { StatusServerStats } from "../cluster/status-forwarding.js";
import type { ConsensusClusterStats } from "../consensus/cluster.js";
import type { ResultFeedStats } from "../consensus/result-feed.js";
import type { EventPublisherStats } from "../events/events-stream.js";
import type { EventHubStats } from "../events/live-feed.js";
import type { AgentHealth, CheckStatus, Observation, Transition } from "../consensus/types.js";
import type { HookRelayStats } from "../hooks/relay.js";
import type { HooksStats } from "../hooks/hooks.js";
import type { DeliveryRecord } from "../hooks/types.js";
import type { IngestStats } from "../ingest/ingest.js";
import type { KvWatchReopenCount } from "../registry/kv-watch-reopens.js";
import type { ResultStore } from "../store/types.js";
import type { ExportedCheckLabel } from "./check-label-names.js";
import { createCheckSeries, type CheckOfSeries } from "./check-series.js";
import { counterFromStats, gaugeFromStats, samplesOf } from "./read-at-scrape.js";

/** Outcomes after which a delivery comes back (every other one is final). */
const RETRIED_OUTCOMES: ReadonlySet<DeliveryRecord["outcome"]> = new Set(["failed", "held"]);

/**
 * Where the control plane's metrics are read from, at each scrape: each part is optional (a part not
 * given, or not yet set, has no series), so main.ts may fill them in as it creates the parts.
 */
export interface ControlPlaneMetricsSources {
  /** The ingest's counters (created late in main: a getter). */
  ingest?: () => IngestStats | undefined;
  consensus?: {
    stats(): ConsensusClusterStats;
    agents(): AgentHealth[];
  };
  /** The checks of the registry, for the per-check series. */
  checks?: () => Promise<readonly CheckOfSeries[]>;
  /** A check's status when this replica decides it (`consensus.status`). */
  status?: (checkId: string) => CheckStatus | undefined;
  hooks?: { readonly stats: HooksStats };
  relay?: () => HookRelayStats | undefined;
  /** The hook type of a hook id (the delivery records carry only the id). */
  hookType?: (hookId: string) => Promise<string | undefined>;
  /** Messages waiting in a JetStream consumer (ingest lag, hook queue); undefined when unknown. */
  consumerPending?: (which: "ingest" | "hooks") => Promise<number | undefined>;
  /** The GET /v1/events clients of this replica (`EventHub.stats`). */
  eventHub?: () => EventHubStats | undefined;
  /** What this replica published to the events stream (`EventPublisher.stats`). */
  eventPublisher?: () => EventPublisherStats | undefined;
  /** Status requests other replicas sent this one for the checks it decides (`serveStatus().stats`). */
  statusServer?: () => StatusServerStats | undefined;
  /** Re-openings of this replica's KV watchers, by bucket and reason (`KvWatchReopens.counts`). */
  kvWatchReopens?: () => readonly KvWatchReopenCount[];
  /** Re-creations of the consumers of this replica's partition result feeds (`jetStreamFeed`'s stats). */
  resultFeed?: () => ResultFeedStats | undefined;
}

/** Options of {@link createControlPlaneMetrics}. */
export interface ControlPlaneMetricsOptions {
  sources?: ControlPlaneMetricsSources;
  /** Check labels exported on the per-check series (PROBEMESH_METRICS_CHECK_LABELS). @default none */
  checkLabels?: readonly ExportedCheckLabel[];
  /** Add the Node.js process metrics (`process_*`, `nodejs_*`). @default true */
  processMetrics?: boolean;
}

/** The control plane's metrics: one registry per process, and the hooks that feed its histograms. */
export interface ControlPlaneMetrics {
  readonly registry: Registry;
  /** The exposition (text format 0.0.4) and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Every transition a decider hands on (cluster `onTransition`). */
  onTransition(t: Transition): void;
  /** Every result a decider of this replica accepts. */
  onObservation(o: Observation): void;
  /** Every delivery record written to the delivery log. */
  onDelivery(r: DeliveryRecord): void;
  /** One API request, by route pattern (`/v1/checks/{id}`, "unmatched"), once answered. */
  onRequest(r: { method: string; route: string; status: number; seconds: number }): void;
  /** `store` with its inserts timed and their batch sizes counted. */
  timedStore(store: Pick<ResultStore, "insertResults">): Pick<ResultStore, "insertResults">;
}

/** Hook ids whose type is remembered at most. */
const HOOK_TYPE_CACHE = 1000;

const seconds = (ms: number) => ms / 1000;

/**
 * Creates the registry of the control plane's metrics (names prefixed `probemesh_`, plus
 * `probe_success` and `probe_duration_seconds`): counters and gauges are read at scrape time from
 * the stats objects in `sources`; histograms are fed by the `on*` hooks.
 */
export function createControlPlaneMetrics(opts: ControlPlaneMetricsOptions = {}): ControlPlaneMetrics {
  const src = opts.sources ?? {};
  const registry = new Registry();
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which `promtool check metrics` refuses; nodejs_active_* {type} remain.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"])
      registry.removeSingleMetric(name);
  }

  // Ingest.
  const ingest = samplesOf(() => src.ingest?.());
  counterFromStats({
    registry,
    name: "probemesh_ingest_received_total",
    help: "Result messages the ingest received from JetStream (redeliveries included)",
    read: ingest((s) => [[{}, s.received]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_ingest_stored_total",
    help: "Results inserted into ClickHouse and acked",
    read: ingest((s) => [[{}, s.inserted]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_ingest_rejected_total",
    help: "Results rejected and never stored: malformed (undecodable or invalid) or refused by ClickHouse as data",
    labelNames: ["reason"],
    read: ingest((s) => [
      [{ reason: "malformed" }, s.malformed],
      [{ reason: "refused_by_store" }, s.rejected],
    ]),
  });
  counterFromStats({
    registry,
    name: "probemesh_ingest_untrusted_total",
    help: "Results dropped because they are not bound to their sender, by reason",
    labelNames: ["reason"],
    read: ingest((s) => Object.entries(s.untrusted).map(([reason, n]) => [{ reason }, n] as const)),
  });
  counterFromStats({
    registry,
    name: "probemesh_ingest_redelivered_copies_total",
    help: "Redelivered copies of results the ingest still held or had just stored, dropped (never stored twice)",
    read: ingest((s) => [[{}, s.redeliveredCopies]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_ingest_insert_failures_total",
    help: "Failed ClickHouse inserts (their results are redelivered)",
    read: ingest((s) => [[{}, s.insertFailures]]),
  });
  gaugeFromStats({
    registry,
    name: "probemesh_ingest_pending",
    help: "Results received and not yet stored by this replica",
    read: ingest((s) => [[{}, s.pending]]),
  });
  gaugeFromStats({
    registry,
    name: "probemesh_ingest_consumer_lag_messages",
    help: "Results in the results stream not yet delivered to the ingest consumer (shared by every replica)",
    read: async () => {
      const n = await src.consumerPending?.("ingest");
      return n === undefined ? [] : [[{}, n]];
    },
  });
  const batchSize = new Histogram({
    name: "probemesh_ingest_batch_size",
    help: "Results per ClickHouse insert",
    buckets: [1, 5, 10, 50, 100, 500, 1000, 2500, 5000],
    registers: [registry],
  });
  const insertSeconds = new Histogram({
    name: "probemesh_ingest_insert_duration_seconds",
    help: "Time of one ClickHouse insert (failed ones included)",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  // Consensus.
  const consensus = samplesOf(() => src.consensus?.stats());
  gaugeFromStats({
    registry,
    name: "probemesh_consensus_partitions_owned",
    help: "Partitions this replica decides (holds the lease of)",
    read: consensus((s) => [[{}, s.deciders.length]]),
  });
  gaugeFromStats({
    registry,
    name: "probemesh_consensus_checks",
    help: "Checks this replica decides, by consensus state",
    labelNames: ["state"],
    read: async () => {
      const { checks, status } = src;
      if (!checks || !status) return [];
      const counts = new Map<string, number>(["up", "degraded", "partial", "down", "unknown"].map((s) => [s, 0]));
      for (const c of await checks()) {
        const state = status(c.id)?.state;
        if (state) counts.set(state, (counts.get(state) ?? 0) + 1);
      }
      return [...counts].map(([state, n]) => [{ state }, n] as const);
    },
  });
  gaugeFromStats({
    registry,
    name: "probemesh_consensus_impaired_agents",
    help: "Agents the deciders of this replica judge impaired (their votes abstain), by region",
    labelNames: ["region"],
    read: () => {
      if (!src.consensus) return [];
      const counts = new Map<string, number>();
      for (const a of src.consensus.agents()) counts.set(a.region, (counts.get(a.region) ?? 0) + (a.impaired ? 1 : 0));
      return [...counts].map(([region, n]) => [{ region }, n] as const);
    },
  });
  gaugeFromStats({
    registry,
    name: "probemesh_impairment_marks",
    help: "Impairment marks in the probemesh_impairment bucket as this replica follows it (one per agent and judging partition)",
    read: consensus((s) => [[{}, s.impairmentMarks.marks]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_impairment_marks_malformed_total",
    help: "Entries of the probemesh_impairment bucket this replica ignored: a key or value that is no mark",
    read: consensus((s) => [[{}, s.impairmentMarks.malformed]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_result_feed_recreations_total",
    help: "Re-creations of the consumer of a partition result feed this replica decides from, by what began them: heartbeats_missed (reported by the client) or stalled (no message and no pull for 10 s)",
    labelNames: ["reason"],
    read: samplesOf(() => src.resultFeed?.())((s) =>
      Object.entries(s.recreations).map(([reason, n]) => [{ reason }, n] as const),
    ),
  });
  const transitions = new Counter({
    name: "probemesh_consensus_transitions_total",
    help: "Transitions decided by this replica, by type (outage.opened, region.state, agent.impaired, ...)",
    labelNames: ["type"],
    registers: [registry],
  });
  const decisionSeconds = new Histogram({
    name: "probemesh_consensus_decision_latency_seconds",
    help: "From the first failing result to the confirmed incident (outage, partial, region), by kind",
    labelNames: ["kind"],
    buckets: [1, 5, 10, 15, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const checkSeries = createCheckSeries({
    registry,
    checks: () => src.checks?.() ?? Promise.resolve([]),
    status: (id) => src.status?.(id),
    ...(opts.checkLabels ? { labels: opts.checkLabels } : {}),
  });

  // Hooks.
  const hookStats = samplesOf(() => src.hooks?.stats);
  counterFromStats({
    registry,
    name: "probemesh_hook_events_total",
    help: "Hook events published by this replica: enqueued for some hook, or refused as malformed",
    labelNames: ["result"],
    read: hookStats((s) => [
      [{ result: "published" }, s.published],
      [{ result: "rejected" }, s.rejectedEvents],
    ]),
  });
  counterFromStats({
    registry,
    name: "probemesh_hook_dead_letters_total",
    help: "Queued deliveries this replica refused and moved to the dead letters (malformed, unknown hook or check)",
    read: hookStats((s) => [[{}, s.deadLettered]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_hook_deliveries_stalled_total",
    help: "Deliveries this replica held while it stood still (stopped, paused, event loop blocked) and so left unattempted for JetStream to redeliver",
    read: hookStats((s) => [[{}, s.stalled]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_hook_relay_retries_total",
    help: "Failed attempts to enqueue a transition's hook events (each retried)",
    read: () => {
      const r = src.relay?.();
      return r ? [[{}, r.retries]] : [];
    },
  });
  gaugeFromStats({
    registry,
    name: "probemesh_hook_queue_depth",
    help: "Deliveries waiting in the hook queue or in flight (shared by every replica)",
    read: async () => {
      const n = await src.consumerPending?.("hooks");
      return n === undefined ? [] : [[{}, n]];
    },
  });
  const deliveries = new Counter({
    name: "probemesh_hook_deliveries_total",
    help: "Delivery attempts this replica recorded, by hook type and outcome (failed and held ones are retried)",
    labelNames: ["hook_type", "outcome"],
    registers: [registry],
  });
  const attempts = new Histogram({
    name: "probemesh_hook_delivery_attempts",
    help: "Attempts a delivery took until its final outcome (anything but failed or held), by hook type",
    labelNames: ["hook_type"],
    buckets: [1, 2, 3, 5, 8, 13, 21],
    registers: [registry],
  });
  const deliverySeconds = new Histogram({
    name: "probemesh_hook_delivery_duration_seconds",
    help: "Time of one delivery attempt, by hook type",
    labelNames: ["hook_type"],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });

  // Live events (GET /v1/events). The sources are read at each scrape: main.ts sets them after this.
  const hub = samplesOf(() => src.eventHub?.());
  const publisher = samplesOf(() => src.eventPublisher?.());
  gaugeFromStats({
    registry,
    name: "probemesh_events_clients",
    help: "GET /v1/events clients connected to this replica",
    read: hub((s) => [[{}, s.clients]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_events_slow_disconnects_total",
    help: "GET /v1/events clients this replica cut off because their buffer filled (too slow to read)",
    read: hub((s) => [[{}, s.slowDisconnects]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_events_published_total",
    help: "Events this replica published to the events stream (repeats of an event already there included)",
    read: publisher((s) => [[{}, s.published]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_events_publish_retries_total",
    help: "Failed attempts to publish a live event that is retried (the events stream unavailable, e.g. electing a leader after a NATS node died)",
    read: publisher((s) => [[{}, s.retries]]),
  });
  gaugeFromStats({
    registry,
    name: "probemesh_events_waiting",
    help: "Live events waiting, in order, for the events stream to take them",
    read: publisher((s) => [[{}, s.waiting]]),
  });
  counterFromStats({
    registry,
    name: "probemesh_events_lost_total",
    help: "Live events not published, by reason: refused (NATS refused them for good, or the connection closed), dropped (too many in flight or waiting), not_owner (the lease they were decided under no longer held)",
    labelNames: ["reason"],
    read: publisher((s) => [
      [{ reason: "refused" }, s.failures],
      [{ reason: "dropped" }, s.dropped],
      [{ reason: "not_owner" }, s.notOwner],
    ]),
  });

  // Status of the checks this replica decides, asked by other replicas (GET /v1/status, /v1/checks/{id}/status).
  counterFromStats({
    registry,
    name: "probemesh_status_forwarding_total",
    help: "Status requests from other replicas, by outcome (answered, not_owner, malformed, failed), replies cut to fit max_payload (paged) and statuses too large for any reply (oversized)",
    labelNames: ["outcome"],
    read: samplesOf(() => src.statusServer?.())((s) => [
      [{ outcome: "answered" }, s.answered],
      [{ outcome: "not_owner" }, s.notOwner],
      [{ outcome: "malformed" }, s.malformed],
      [{ outcome: "failed" }, s.failed],
      [{ outcome: "paged" }, s.paged],
      [{ outcome: "oversized" }, s.oversized],
    ]),
  });

  // NATS KV buckets this replica follows into memory (checks, leases, agents, impairment marks, ...).
  counterFromStats({
    registry,
    name: "probemesh_kv_watch_reopens_total",
    help: "Re-openings of this replica's KV watchers, by bucket and reason: ended (the watcher ended or could not be opened, e.g. NATS restarted) or stalled (it stopped delivering while the bucket moved on)",
    labelNames: ["bucket", "reason"],
    read: () => (src.kvWatchReopens?.() ?? []).map((c) => [{ bucket: c.bucket, reason: c.reason }, c.count] as const),
  });

  // API.
  const requests = new Counter({
    name: "probemesh_http_requests_total",
    help: "API requests, by method, route pattern and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: "probemesh_http_request_duration_seconds",
    help: "API request latency, by method and route pattern",
    labelNames: ["method", "route"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });

  const hookTypes = new Map<string, string>();
  const recordDelivery = (r: DeliveryRecord, hookType: string) => {
    deliveries.inc({ hook_type: hookType, outcome: r.outcome });
    deliverySeconds.observe({ hook_type: hookType }, seconds(r.latencyMs));
    if (!RETRIED_OUTCOMES.has(r.outcome)) attempts.observe({ hook_type: hookType }, r.attempt);
  };

  return {
    registry,
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    onTransition(t) {
      transitions.inc({ type: t.type });
      if (t.type === "outage.opened" || t.type === "partial.opened" || t.type === "region.opened")
        decisionSeconds.observe(
          { kind: t.outage.kind },
          Math.max(0, seconds(t.outage.confirmedAt - t.outage.startedAt)),
        );
    },
    onObservation(o) {
      checkSeries.observe(o);
    },
    onDelivery(r) {
      const known = hookTypes.get(r.hookId);
      if (known !== undefined || !src.hookType) {
        recordDelivery(r, known ?? "unknown");
        return;
      }
      void src.hookType(r.hookId).then(
        (type) => {
          // A hook's type rarely changes; the cache is bounded by clearing it when it grows past the limit.
          if (hookTypes.size >= HOOK_TYPE_CACHE) hookTypes.clear();
          if (type !== undefined) hookTypes.set(r.hookId, type);
          recordDelivery(r, type ?? "unknown");
        },
        () => recordDelivery(r, "unknown"),
      );
    },
    onRequest(r) {
      requests.inc({ method: r.method, route: r.route, status: String(r.status) });
      requestSeconds.observe({ method: r.method, route: r.route }, r.seconds);
    },
    timedStore(store) {
      return {
        async insertResults(rows) {
          batchSize.observe(rows.length);
          const end = insertSeconds.startTimer();
          try {
            await store.insertResults(rows);
          } finally {
            end();
          }
        },
      };
    },
  };
}
