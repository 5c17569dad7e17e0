import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AgentStats } from "../agent.js";
import type { ResultSink } from "../publish/result-sink.js";
import type { RunReport } from "../schedule/scheduler.js";

/** What the agent hands its metrics: every finished run, and its sink to time. */
export interface AgentMetricsHooks {
  /** Every outcome of every finished run. */
  onRun(report: RunReport): void;
  /** `sink` with its publishes timed and its reconnects counted. */
  sink(sink: ResultSink): ResultSink;
}

/** The agent's Prometheus metrics (PROBEMESH_METRICS_ADDR): one registry per agent. */
export interface AgentMetrics extends AgentMetricsHooks {
  readonly registry: Registry;
  /** The agent's counters, read at scrape time (undefined while it is not running). */
  readStats(read: () => AgentStats | undefined): void;
  /** The exposition (text format 0.0.4) and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Options of {@link createAgentMetrics}. */
export interface AgentMetricsOptions {
  /** Add the Node.js process metrics (`process_*`, `nodejs_*`). @default true */
  processMetrics?: boolean;
}

/**
 * Creates the agent's metrics (names prefixed `probemesh_agent_`): probes run by type and outcome,
 * scheduling lag, publish latency, outbox depth and bytes, NATS reconnects, plus process metrics.
 */
export function createAgentMetrics(opts: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which `promtool check metrics` refuses; nodejs_active_* {type} remain.
    for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"])
      registry.removeSingleMetric(name);
  }
  let stats: () => AgentStats | undefined = () => undefined;
  const current = (): AgentStats | undefined => {
    try {
      return stats();
    } catch {
      return undefined; // not running (starting or stopped)
    }
  };

  const runs = new Counter({
    name: "probemesh_agent_probes_total",
    help: "Probe runs finished, by check type and outcome (up, degraded, down)",
    labelNames: ["type", "outcome"],
    registers: [registry],
  });
  const probeSeconds = new Histogram({
    name: "probemesh_agent_probe_duration_seconds",
    help: "Duration of a probe run, by check type",
    labelNames: ["type"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const lagSeconds = new Histogram({
    name: "probemesh_agent_scheduling_lag_seconds",
    help: "How late a run started after its planned slot",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const publishSeconds = new Histogram({
    name: "probemesh_agent_publish_duration_seconds",
    help: "Time from a publish to JetStream's acknowledgement (failed publishes included)",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const publishFailures = new Counter({
    name: "probemesh_agent_publish_failures_total",
    help: "Publishes JetStream did not acknowledge (the result goes to the outbox and is retried)",
    registers: [registry],
  });
  const reconnects = new Counter({
    name: "probemesh_agent_nats_reconnects_total",
    help: "Times the NATS connection came back after being down",
    registers: [registry],
  });
  const natsUp = new Gauge({
    name: "probemesh_agent_nats_connected",
    help: "1 while the NATS connection is believed up",
    registers: [registry],
  });
  const fromStats = (name: string, help: string, read: (s: AgentStats) => number, kind: "gauge" | "counter") => {
    const Metric = kind === "gauge" ? Gauge : Counter;
    new Metric({
      name,
      help,
      registers: [registry],
      collect(this: Gauge | Counter) {
        const s = current();
        this.reset();
        if (!s) this.remove({});
        else if (this instanceof Gauge) this.set(read(s));
        else this.inc(read(s));
      },
    });
  };
  fromStats(
    "probemesh_agent_outbox_depth",
    "Results waiting in the on-disk outbox for NATS",
    (s) => s.publisher.outbox.depth,
    "gauge",
  );
  fromStats(
    "probemesh_agent_outbox_bytes",
    "Bytes of the outbox's segment files on disk",
    (s) => s.publisher.outbox.bytes,
    "gauge",
  );
  fromStats(
    "probemesh_agent_outbox_dropped_total",
    "Results dropped from the full outbox (oldest first)",
    (s) => s.publisher.outbox.dropped,
    "counter",
  );
  fromStats("probemesh_agent_published_total", "Results JetStream confirmed", (s) => s.publisher.published, "counter");
  fromStats("probemesh_agent_checks", "Checks this agent runs", (s) => s.scheduler.checks, "gauge");
  fromStats("probemesh_agent_runs_in_flight", "Probe runs in flight", (s) => s.scheduler.inFlight, "gauge");
  fromStats(
    "probemesh_agent_skipped_slots_total",
    "Planned runs skipped because the agent was late by more than an interval or the previous run was still going",
    (s) => s.scheduler.skippedSlots,
    "counter",
  );

  return {
    registry,
    readStats(read) {
      stats = read;
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    onRun(report) {
      runs.inc({ type: report.check.type, outcome: report.outcome.state });
      probeSeconds.observe({ type: report.check.type }, report.outcome.durationMs / 1000);
      lagSeconds.observe(report.lagMs / 1000);
    },
    sink(sink) {
      let wasUp = sink.isUp();
      let everUp = wasUp;
      natsUp.set(wasUp ? 1 : 0);
      sink.onUpChange((up) => {
        if (up && !wasUp && everUp) reconnects.inc();
        everUp ||= up;
        wasUp = up;
        natsUp.set(up ? 1 : 0);
      });
      return {
        isUp: () => sink.isUp(),
        onUpChange: (listener) => sink.onUpChange(listener),
        async publish(subject, data, msgId) {
          const end = publishSeconds.startTimer();
          try {
            await sink.publish(subject, data, msgId);
          } catch (err) {
            publishFailures.inc();
            throw err;
          } finally {
            end();
          }
        },
      };
    },
  };
}
