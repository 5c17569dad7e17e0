import { spawnSync } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { CheckSchema } from "@probemesh/proto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { AgentStats } from "../agent.js";
import type { ResultSink } from "../publish/result-sink.js";
import type { RunReport } from "../schedule/scheduler.js";
import { createAgentMetrics } from "./agent-metrics.js";
import { metricsAddrProblem } from "./listen-addr.js";
import { startAgentMetricsListener } from "./metrics-listener.js";

const stats = {
  assignmentVersion: 1n,
  lastSeq: 9n,
  scheduler: {
    checks: 3,
    inFlight: 1,
    queued: 0,
    runs: 10,
    skippedSlots: 2,
    hardTimeouts: 0,
    invalidChecks: 0,
    resultHandlerErrors: 0,
    lag: { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 },
  },
  publisher: {
    published: 8,
    outboxed: 2,
    failures: 1,
    pending: 0,
    undecodable: 0,
    outbox: { depth: 2, bytes: 512, dropped: 0, corrupt: 0, writeErrors: 0 },
  },
  assignments: {},
} as unknown as AgentStats;

function report(type: string, state: "up" | "down", lagMs = 3): RunReport {
  return {
    check: create(CheckSchema, { id: "web", type }),
    outcome: {
      state,
      reason: state === "up" ? "" : "timeout",
      message: "",
      phases: {},
      target: "",
      durationMs: 120,
      attempts: 1,
    },
    plannedAtMs: 0,
    startedAtMs: lagMs,
    lagMs,
  } as unknown as RunReport;
}

/** A sink whose connection the test flips. */
function fakeSink(): ResultSink & { flip(up: boolean): void } {
  let up = true;
  const listeners = new Set<(up: boolean) => void>();
  return {
    isUp: () => up,
    onUpChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async publish(subject) {
      if (subject === "fail") throw new Error("no ack");
    },
    flip(next) {
      up = next;
      for (const l of listeners) l(next);
    },
  };
}

const value = (text: string, series: string) =>
  Number(
    text
      .split("\n")
      .find((l) => l.startsWith(`${series} `))
      ?.slice(series.length + 1) ?? NaN,
  );

describe("the agent's exposition", () => {
  it("counts runs by type and outcome, times publishes, counts reconnects and reads the outbox", async () => {
    const m = createAgentMetrics();
    m.readStats(() => stats);
    m.onRun(report("http", "up"));
    m.onRun(report("http", "down"));
    m.onRun(report("tcp", "up"));
    const base = fakeSink();
    const sink = m.sink(base);
    await sink.publish("ok", new Uint8Array(), "1");
    await expect(sink.publish("fail", new Uint8Array(), "2")).rejects.toThrow("no ack");
    base.flip(false);
    base.flip(true);
    base.flip(true);
    const { body } = await m.render();
    expect(value(body, 'probemesh_agent_probes_total{type="http",outcome="up"}')).toBe(1);
    expect(value(body, 'probemesh_agent_probes_total{type="http",outcome="down"}')).toBe(1);
    expect(value(body, 'probemesh_agent_probes_total{type="tcp",outcome="up"}')).toBe(1);
    expect(value(body, "probemesh_agent_scheduling_lag_seconds_count")).toBe(3);
    expect(value(body, "probemesh_agent_publish_duration_seconds_count")).toBe(2);
    expect(value(body, "probemesh_agent_publish_failures_total")).toBe(1);
    expect(value(body, "probemesh_agent_nats_reconnects_total")).toBe(1);
    expect(value(body, "probemesh_agent_nats_connected")).toBe(1);
    expect(value(body, "probemesh_agent_outbox_depth")).toBe(2);
    expect(value(body, "probemesh_agent_outbox_bytes")).toBe(512);
    expect(value(body, "probemesh_agent_published_total")).toBe(8);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
    expect(`${lint.stdout}${lint.stderr}`).toBe("");
    expect(lint.status).toBe(0);
  });

  it("has no outbox series while the agent is not running", async () => {
    const m = createAgentMetrics({ processMetrics: false });
    m.readStats(() => {
      throw new Error("not running");
    });
    const { body } = await m.render();
    expect(body).not.toMatch(/^probemesh_agent_outbox_depth /m);
  });

  it("serves GET /metrics on the listener and nothing else", async () => {
    const m = createAgentMetrics();
    const l = await startAgentMetricsListener({
      addr: "127.0.0.1:0",
      render: () => m.render(),
      log: pino({ level: "silent" }),
    });
    try {
      const res = await fetch(`http://${l.addr}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await res.text()).toContain("process_cpu_user_seconds_total");
      expect((await fetch(`http://${l.addr}/`)).status).toBe(404);
    } finally {
      await l.close();
    }
  });

  it("listens only on loopback or private addresses unless insecure", () => {
    for (const ok of [
      "127.0.0.1:9465",
      "localhost:9465",
      "10.1.2.3:9465",
      "192.168.1.5:1",
      "172.20.0.1:1",
      "[::1]:9465",
      "[fd00::1]:1",
    ])
      expect(metricsAddrProblem(ok, false), ok).toBeUndefined();
    for (const bad of ["0.0.0.0:9465", "8.8.8.8:9465", "[::]:9465", "metrics.example.com:9465"])
      expect(metricsAddrProblem(bad, false), bad).toMatch(/not a loopback or private address.*PROBEMESH_INSECURE=true/);
    expect(metricsAddrProblem("0.0.0.0:9465", true)).toBeUndefined();
    expect(metricsAddrProblem("nonsense", true)).toMatch(/not host:port/);
  });
});
