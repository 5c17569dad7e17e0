import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { CheckStatus, Observation } from "../consensus/types.js";
import type { HooksStats } from "../hooks/hooks.js";
import { emptyDeliveryStats } from "../hooks/delivery-worker.js";
import type { IngestStats } from "../ingest/ingest.js";
import { emptyUntrustedCounts } from "../ingest/result-binding.js";
import { emptyResultFeedStats } from "../consensus/result-feed.js";
import { createKvWatchReopens } from "../registry/kv-watch-reopens.js";
import { parseCheckLabelNames } from "./check-label-names.js";
import { createControlPlaneMetrics, type ControlPlaneMetricsSources } from "./control-plane-metrics.js";

const ingestStats = (over: Partial<IngestStats> = {}): IngestStats => ({
  received: 12,
  inserted: 10,
  malformed: 1,
  insertFailures: 0,
  rejected: 1,
  untrusted: { ...emptyUntrustedCounts(), notEnrolled: 3 },
  lastInsertAt: 0,
  pending: 2,
  inserts: 3,
  largestBatch: 5,
  progressAcks: 0,
  redeliveredCopies: 4,
  nakedOnStop: 0,
  ...over,
});

const status = (checkId: string, state: CheckStatus["state"]): CheckStatus => ({
  checkId,
  state,
  reason: "",
  since: 0,
  regions: {},
  outage: null,
});

const observation = (over: Partial<Observation>): Observation => ({
  checkId: "web",
  agentId: "agent-eu",
  region: "eu",
  startedAt: 1000,
  durationMs: 250,
  state: "up",
  reason: "",
  canary: false,
  ...over,
});

/** The value of the one sample of `text` named `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

function mesh(sources: Partial<ControlPlaneMetricsSources> = {}, processMetrics = false) {
  const decided = new Map<string, CheckStatus>([
    ["web", status("web", "down")],
    ["api", status("api", "up")],
  ]);
  const checks: { id: string; labels: Record<string, string> }[] = [
    { id: "web", labels: { team: "web", "cost-center": "42" } },
    { id: "api", labels: {} },
    { id: "elsewhere", labels: {} },
  ];
  const metrics = createControlPlaneMetrics({
    processMetrics,
    checkLabels: parseCheckLabelNames("team,cost-center"),
    sources: {
      ingest: () => ingestStats(),
      checks: async () => checks,
      status: (id) => decided.get(id),
      consensus: {
        stats: () => ({
          deciders: [],
          pendingSaves: 0,
          saveFailures: 0,
          untrusted: emptyUntrustedCounts(),
          impairmentMarks: { marks: 2, malformed: 1 },
          acquired: 0,
          lost: 0,
        }),
        agents: () => [
          {
            agentId: "a1",
            region: "eu",
            impaired: true,
            reason: "x",
            since: 0,
            checks: 1,
            contradicted: 1,
            canariesDown: 0,
          },
          {
            agentId: "a2",
            region: "us",
            impaired: false,
            reason: "",
            since: 0,
            checks: 1,
            contradicted: 0,
            canariesDown: 0,
          },
        ],
      },
      hooks: {
        stats: {
          ...emptyDeliveryStats(),
          deadLettered: 2,
          published: 4,
          rejectedEvents: 0,
          enqueued: 4,
          duplicates: 0,
        } as HooksStats,
      },
      kvWatchReopens: () => [{ bucket: "probemesh_checks", reason: "stalled", count: 1 }],
      resultFeed: () => emptyResultFeedStats(),
      hookType: async () => "webhook",
      consumerPending: async (which) => (which === "ingest" ? 7 : 1),
      eventHub: () => ({ clients: 3, connected: 9, slowDisconnects: 2, refused: 1, buffered: 40, malformed: 0 }),
      eventPublisher: () => ({
        published: 17,
        duplicates: 1,
        notOwner: 4,
        failures: 2,
        dropped: 3,
        retries: 6,
        waiting: 5,
      }),
      ...sources,
    },
  });
  return { metrics, decided, checks };
}

describe("the control plane's exposition", () => {
  it("reads ingest, consensus and hook counters from the stats objects at scrape time", async () => {
    const { metrics } = mesh();
    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(body, "probemesh_ingest_received_total")).toBe(12);
    expect(sample(body, "probemesh_ingest_redelivered_copies_total")).toBe(4);
    expect(sample(body, "probemesh_ingest_stored_total")).toBe(10);
    expect(sample(body, "probemesh_ingest_rejected_total", { reason: "malformed" })).toBe(1);
    expect(sample(body, "probemesh_ingest_untrusted_total", { reason: "notEnrolled" })).toBe(3);
    expect(sample(body, "probemesh_ingest_consumer_lag_messages")).toBe(7);
    expect(sample(body, "probemesh_hook_queue_depth")).toBe(1);
    expect(sample(body, "probemesh_hook_dead_letters_total")).toBe(2);
    expect(sample(body, "probemesh_consensus_impaired_agents", { region: "eu" })).toBe(1);
    expect(sample(body, "probemesh_impairment_marks")).toBe(2);
    expect(sample(body, "probemesh_impairment_marks_malformed_total")).toBe(1);
    expect(sample(body, "probemesh_consensus_impaired_agents", { region: "us" })).toBe(0);
    expect(sample(body, "probemesh_consensus_checks", { state: "down" })).toBe(1);
    expect(sample(body, "probemesh_consensus_checks", { state: "up" })).toBe(1);
  });

  it("exports probe_success, probe_duration_seconds and one probemesh_check_state series per state for the checks it decides", async () => {
    const { metrics, decided } = mesh();
    metrics.onObservation(observation({ region: "eu", state: "down", durationMs: 1500, startedAt: 2000 }));
    metrics.onObservation(observation({ region: "eu", state: "up", startedAt: 1000 })); // older: ignored
    metrics.onObservation(observation({ region: "us", state: "degraded", durationMs: 80 }));
    metrics.onObservation(observation({ checkId: "elsewhere", region: "us" }));
    let { body } = await metrics.render();
    expect(sample(body, "probe_success", { check: "web", region: "eu", team: "web", cost_center: "42" })).toBe(0);
    expect(sample(body, "probe_duration_seconds", { check: "web", region: "eu" })).toBe(1.5);
    expect(sample(body, "probe_success", { check: "web", region: "us" })).toBe(1);
    expect(sample(body, "probemesh_check_state", { check: "web", state: "down" })).toBe(1);
    expect(sample(body, "probemesh_check_state", { check: "web", state: "up" })).toBe(0);
    expect(sample(body, "probemesh_check_state", { check: "api", state: "up", team: "" })).toBe(1);
    expect(body.match(/^probemesh_check_state\{/gm)).toHaveLength(10);
    // Decided by another replica: exported there, not here.
    expect(body).not.toContain('check="elsewhere"');
    // The partition moved away: the series vanish at the next scrape.
    decided.delete("web");
    ({ body } = await metrics.render());
    expect(body).not.toContain('check="web"');
    expect(sample(body, "probemesh_check_state", { check: "api", state: "up" })).toBe(1);
  });

  it("counts transitions, decision latency, deliveries by hook type and API requests, and times inserts", async () => {
    const { metrics } = mesh();
    const outage = {
      id: "o1",
      checkId: "web",
      kind: "outage" as const,
      state: "open" as const,
      startedAt: 10_000,
      confirmedAt: 40_000,
      resolvedAt: null,
      regions: ["eu", "us"],
      reason: "timeout",
    };
    metrics.onTransition({ type: "outage.opened", checkId: "web", at: 40_000, outage });
    metrics.onTransition({ type: "check.state", checkId: "web", from: "up", to: "down", at: 40_000 });
    const record = {
      hookId: "h1",
      eventId: "e",
      eventType: "outage.opened" as const,
      checkId: "web",
      deliveryId: "d",
      at: 0,
    };
    metrics.onDelivery({ ...record, attempt: 1, outcome: "failed", latencyMs: 100 });
    metrics.onDelivery({ ...record, attempt: 2, outcome: "delivered", latencyMs: 20 });
    metrics.onRequest({ method: "GET", route: "/v1/checks/:id", status: 200, seconds: 0.01 });
    await metrics.timedStore({ insertResults: async () => {} }).insertResults([{} as never, {} as never]);
    await new Promise((r) => setImmediate(r)); // the hook type lookup
    const { body } = await metrics.render();
    expect(sample(body, "probemesh_consensus_transitions_total", { type: "outage.opened" })).toBe(1);
    expect(sample(body, "probemesh_consensus_transitions_total", { type: "check.state" })).toBe(1);
    expect(sample(body, "probemesh_consensus_decision_latency_seconds_sum", { kind: "outage" })).toBe(30);
    expect(sample(body, "probemesh_hook_deliveries_total", { hook_type: "webhook", outcome: "failed" })).toBe(1);
    expect(sample(body, "probemesh_hook_deliveries_total", { hook_type: "webhook", outcome: "delivered" })).toBe(1);
    expect(sample(body, "probemesh_hook_delivery_attempts_count", { hook_type: "webhook" })).toBe(1);
    expect(sample(body, "probemesh_hook_delivery_attempts_sum", { hook_type: "webhook" })).toBe(2);
    expect(sample(body, "probemesh_hook_delivery_duration_seconds_count", { hook_type: "webhook" })).toBe(2);
    expect(sample(body, "probemesh_http_requests_total", { route: "/v1/checks/:id", status: "200" })).toBe(1);
    expect(sample(body, "probemesh_ingest_batch_size_sum")).toBe(2);
    expect(sample(body, "probemesh_ingest_insert_duration_seconds_count")).toBe(1);
  });

  it("reads the live events' clients, slow disconnects and publishes at scrape time", async () => {
    let clients = 3;
    const { metrics } = mesh({
      eventHub: () => ({ clients, connected: 9, slowDisconnects: 2, refused: 1, buffered: 40, malformed: 0 }),
    });
    let { body } = await metrics.render();
    expect(body).toContain("# TYPE probemesh_events_clients gauge");
    expect(body).toContain("# TYPE probemesh_events_slow_disconnects_total counter");
    expect(body).toContain("# TYPE probemesh_events_published_total counter");
    expect(sample(body, "probemesh_events_clients")).toBe(3);
    expect(sample(body, "probemesh_events_slow_disconnects_total")).toBe(2);
    expect(sample(body, "probemesh_events_published_total")).toBe(17);
    expect(body).toContain("# TYPE probemesh_events_waiting gauge");
    expect(sample(body, "probemesh_events_publish_retries_total")).toBe(6);
    expect(sample(body, "probemesh_events_waiting")).toBe(5);
    expect(sample(body, "probemesh_events_lost_total", { reason: "refused" })).toBe(2);
    expect(sample(body, "probemesh_events_lost_total", { reason: "dropped" })).toBe(3);
    expect(sample(body, "probemesh_events_lost_total", { reason: "not_owner" })).toBe(4);
    clients = 0;
    ({ body } = await metrics.render());
    expect(sample(body, "probemesh_events_clients")).toBe(0);
    // Not created yet (main.ts fills the sources in as it goes): no clients series until they are set.
    const sources: ControlPlaneMetricsSources = {};
    const late = createControlPlaneMetrics({ processMetrics: false, sources });
    ({ body } = await late.render());
    expect(sample(body, "probemesh_events_clients")).toBeUndefined();
    expect(sample(body, "probemesh_events_published_total")).toBe(0); // an unlabelled counter starts at 0
    sources.eventHub = () => ({ clients: 1, connected: 1, slowDisconnects: 0, refused: 0, buffered: 0, malformed: 0 });
    sources.eventPublisher = () => ({
      published: 5,
      duplicates: 0,
      notOwner: 0,
      failures: 0,
      dropped: 0,
      retries: 0,
      waiting: 0,
    });
    ({ body } = await late.render());
    expect(sample(body, "probemesh_events_clients")).toBe(1);
    expect(sample(body, "probemesh_events_published_total")).toBe(5);
  });

  it("reads the status requests other replicas sent, by outcome, paged and oversized replies included", async () => {
    const sources: ControlPlaneMetricsSources = {};
    const metrics = createControlPlaneMetrics({ processMetrics: false, sources });
    let { body } = await metrics.render();
    expect(sample(body, "probemesh_status_forwarding_total", { outcome: "answered" })).toBeUndefined();
    sources.statusServer = () => ({ answered: 12, notOwner: 1, malformed: 2, failed: 0, paged: 3, oversized: 1 });
    ({ body } = await metrics.render());
    expect(body).toContain("# TYPE probemesh_status_forwarding_total counter");
    expect(sample(body, "probemesh_status_forwarding_total", { outcome: "answered" })).toBe(12);
    expect(sample(body, "probemesh_status_forwarding_total", { outcome: "not_owner" })).toBe(1);
    expect(sample(body, "probemesh_status_forwarding_total", { outcome: "malformed" })).toBe(2);
    expect(sample(body, "probemesh_status_forwarding_total", { outcome: "paged" })).toBe(3);
    expect(sample(body, "probemesh_status_forwarding_total", { outcome: "oversized" })).toBe(1);
  });

  it("reads the re-openings of the KV watchers by bucket and reason, and the result feeds' re-creations by reason", async () => {
    const sources: ControlPlaneMetricsSources = {};
    const metrics = createControlPlaneMetrics({ processMetrics: false, sources });
    let { body } = await metrics.render();
    expect(sample(body, "probemesh_kv_watch_reopens_total", { bucket: "probemesh_checks" })).toBeUndefined();
    expect(sample(body, "probemesh_result_feed_recreations_total", { reason: "stalled" })).toBeUndefined();
    const reopens = createKvWatchReopens();
    const checks = reopens.of("probemesh_checks");
    const marks = reopens.of("probemesh_impairment");
    reopens.of("probemesh_impairment")("stalled");
    checks("ended");
    checks("ended");
    marks("stalled");
    const feed = emptyResultFeedStats();
    feed.recreations.stalled = 3;
    sources.kvWatchReopens = () => reopens.counts();
    sources.resultFeed = () => feed;
    ({ body } = await metrics.render());
    expect(body).toContain("# TYPE probemesh_kv_watch_reopens_total counter");
    expect(sample(body, "probemesh_kv_watch_reopens_total", { bucket: "probemesh_checks", reason: "ended" })).toBe(2);
    expect(sample(body, "probemesh_kv_watch_reopens_total", { bucket: "probemesh_checks", reason: "stalled" })).toBe(0);
    expect(
      sample(body, "probemesh_kv_watch_reopens_total", { bucket: "probemesh_impairment", reason: "stalled" }),
    ).toBe(2);
    expect(body).toContain("# TYPE probemesh_result_feed_recreations_total counter");
    expect(sample(body, "probemesh_result_feed_recreations_total", { reason: "stalled" })).toBe(3);
    expect(sample(body, "probemesh_result_feed_recreations_total", { reason: "heartbeats_missed" })).toBe(0);
  });

  it("counts a duplicate delivery (a copy another copy claimed, not attempted) under its outcome", async () => {
    const { metrics } = mesh();
    const record = { hookId: "h1", eventId: "e", eventType: "outage.opened" as const, checkId: "web", deliveryId: "d" };
    metrics.onDelivery({ ...record, attempt: 1, outcome: "delivered", latencyMs: 20, at: 0 });
    metrics.onDelivery({ ...record, attempt: 2, outcome: "duplicate", latencyMs: 0, at: 1 });
    await new Promise((r) => setImmediate(r)); // the hook type lookup
    const { body } = await metrics.render();
    expect(sample(body, "probemesh_hook_deliveries_total", { hook_type: "webhook", outcome: "duplicate" })).toBe(1);
    expect(sample(body, "probemesh_hook_deliveries_total", { hook_type: "webhook", outcome: "delivered" })).toBe(1);
  });

  it("has no series for parts not given, and two instances in one process do not share a registry", async () => {
    const a = createControlPlaneMetrics({ processMetrics: true });
    const b = createControlPlaneMetrics({ processMetrics: true });
    a.onRequest({ method: "GET", route: "/healthz", status: 200, seconds: 0 });
    const [ta, tb] = [(await a.render()).body, (await b.render()).body];
    expect(sample(ta, "probemesh_http_requests_total")).toBe(1);
    expect(sample(tb, "probemesh_http_requests_total")).toBeUndefined();
    expect(sample(tb, "probemesh_ingest_received_total")).toBe(0);
    expect(sample(tb, "probemesh_ingest_consumer_lag_messages")).toBeUndefined();
    expect(tb).toContain("process_cpu_user_seconds_total");
  });

  it("passes `promtool check metrics`, process metrics included", async () => {
    const { metrics } = mesh({}, true);
    metrics.onObservation(observation({}));
    metrics.onRequest({ method: "GET", route: "/v1/checks", status: 200, seconds: 0.01 });
    const { body } = await metrics.render();
    const child = execFile("promtool", ["check", "metrics"]);
    child.stdin?.end(body);
    const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
      let text = "";
      child.stdout?.on("data", (d: Buffer) => (text += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (text += d.toString()));
      child.on("close", (code) => resolve({ code, text }));
    });
    expect(out.text).toBe("");
    expect(out.code).toBe(0);
  });
});
