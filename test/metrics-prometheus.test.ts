// The metrics as a Prometheus user sees them: a real Prometheus (Debian's) scrapes the secure
// control plane's HTTPS GET /metrics with a read token and an agent's PROBEMESH_METRICS_ADDR, and
// answers queries on probe_success and the ingest counters; promtool accepts both expositions; the
// Grafana dashboard queries only metrics they contain, and each of its queries runs on the real Prometheus.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchTrusting } from "./harness/https-fetch.js";
import { startControlPlane, startMesh, type Mesh } from "./harness/mesh.js";
import { freePort, listenOnLoopback } from "./harness/ports.js";
import { waitFor } from "./harness/process.js";
import { promtoolCheckMetrics, startPrometheus, type Prometheus } from "./harness/prometheus.js";

const DASHBOARD = fileURLToPath(new URL("../deploy/grafana/probemesh.json", import.meta.url));

/** Every metric name an exposition has (histograms with their _bucket, _sum and _count). */
function metricNames(exposition: string): Set<string> {
  const out = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = "", type] = m;
    out.add(name);
    if (type === "histogram" || type === "summary")
      for (const s of ["_bucket", "_sum", "_count"]) out.add(`${name}${s}`);
  }
  return out;
}

describe("metrics scraped by a real Prometheus", () => {
  let mesh: Mesh;
  let target: Server;
  let prometheus: Prometheus | undefined;
  let agentMetrics: string;
  let readToken: string;
  let secureFetch: (url: string, init?: RequestInit) => Promise<Response>;

  beforeAll(async () => {
    target = createServer((_req, res) => res.end("ok"));
    const targetPort = await listenOnLoopback(target);
    mesh = await startMesh({ regions: ["eu"] });
    const caFile = mesh.secureNats!.caFile;
    secureFetch = fetchTrusting(readFileSync(caFile));
    const created = await mesh.cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 800,
        labels: { team: "web" },
        http: { url: `http://127.0.0.1:${targetPort}/`, method: "GET", expectStatus: [200] },
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const token = await mesh.cp.request("/v1/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "prometheus", scopes: ["read"] }),
    });
    readToken = ((await token.json()) as { token: string }).token;
    agentMetrics = `127.0.0.1:${await freePort()}`;
    await mesh.restartAgent("agent-eu", { PROBEMESH_METRICS_ADDR: agentMetrics });
    const cpAddr = new URL(mesh.cp.api).host;
    prometheus = await startPrometheus({
      scrapeIntervalMs: 1000,
      jobs: [
        { job: "probemesh-control-plane", targets: [cpAddr], scheme: "https", bearerToken: readToken, caFile },
        { job: "probemesh-agent", targets: [agentMetrics] },
      ],
    });
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
    await mesh?.dispose();
    target?.close();
  }, 60_000);

  const diagnostics = () =>
    `${mesh.diagnostics()}\n--- prometheus ---\n${prometheus?.proc.output().slice(-3000) ?? ""}`;

  it("answers probe_success{check} and the ingest counters through its HTTP API", async () => {
    const p = prometheus!;
    const success = await waitFor(
      'probe_success{check="web"} in Prometheus',
      async () => {
        const r = await p.query('probe_success{check="web"}');
        return r.length > 0 && r.every((s) => s.value[1] === "1") ? r : undefined;
      },
      90_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });
    expect(success.map((s) => s.metric.region)).toEqual(["eu"]);
    expect(success[0]!.metric.job).toBe("probemesh-control-plane");
    const stored = await waitFor(
      "probemesh_ingest_stored_total > 0",
      async () => {
        const r = await p.query("sum(probemesh_ingest_stored_total)");
        return r.length === 1 && Number(r[0]!.value[1]) > 0 ? r : undefined;
      },
      60_000,
      500,
    );
    expect(Number(stored[0]!.value[1])).toBeGreaterThan(0);
    const state = await p.query('probemesh_check_state{check="web"} == 1');
    expect(state.map((s) => s.metric.state)).toEqual(["up"]);
    const runs = await waitFor(
      "the agent's probes in Prometheus",
      async () => {
        const r = await p.query('sum(probemesh_agent_probes_total{type="http", outcome="up"})');
        return r.length === 1 && Number(r[0]!.value[1]) > 0 ? r : undefined;
      },
      30_000,
      500,
    );
    expect(Number(runs[0]!.value[1])).toBeGreaterThan(0);
    expect((await p.targets()).map((t) => [t.job, t.health, t.lastError]).sort()).toEqual([
      ["probemesh-agent", "up", ""],
      ["probemesh-control-plane", "up", ""],
    ]);
  }, 180_000);

  it("serves both expositions so that `promtool check metrics` passes, and the API's only with a token", async () => {
    const cp = await secureFetch(`${mesh.cp.api}/metrics`, { headers: { authorization: `Bearer ${readToken}` } });
    expect(cp.status).toBe(200);
    const cpText = await cp.text();
    const agent = await fetch(`http://${agentMetrics}/metrics`);
    expect(agent.status).toBe(200);
    const agentText = await agent.text();
    for (const text of [cpText, agentText]) expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
    expect(cpText).toMatch(/^probe_duration_seconds\{check="web",region="eu"\} /m);
    expect(cpText).toMatch(/^probemesh_http_requests_total\{method="GET",route="\/metrics",status="200"\} /m);
    expect(agentText).toMatch(/^probemesh_agent_outbox_depth \d+/m);
    expect((await secureFetch(`${mesh.cp.api}/metrics`)).status).toBe(401);
  }, 60_000);

  it("has a Grafana dashboard whose every query names metrics of these expositions", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
      panels: { title: string; type: string; targets?: { expr: string }[] }[];
      templating: { list: { query: { query: string } }[] };
    };
    const cpText = await (
      await secureFetch(`${mesh.cp.api}/metrics`, { headers: { authorization: `Bearer ${readToken}` } })
    ).text();
    const agentText = await (await fetch(`http://${agentMetrics}/metrics`)).text();
    const known = new Set([...metricNames(cpText), ...metricNames(agentText)]);
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => v.query.query),
    ];
    expect(exprs.length).toBeGreaterThan(20);
    const used = new Set(
      exprs.flatMap((e) => [...e.matchAll(/\b(probe_[a-z_]+|probemesh_[a-z_]+)\b/g)].map((m) => m[1]!)),
    );
    for (const name of ["probe_success", "probemesh_hook_deliveries_total", "probemesh_ingest_received_total"])
      expect(used).toContain(name);
    expect([...used].filter((n) => !known.has(n))).toEqual([]);

    // What Grafana sends: each panel's query with its variables expanded ("All" is `.*`), run by the
    // real Prometheus. A query it cannot parse throws; the panels on checks have data.
    const p = prometheus!;
    const expand = (e: string) =>
      e
        .replaceAll("$__rate_interval", "1m")
        .replaceAll("$__range", "5m")
        .replaceAll("$check", ".*")
        .replaceAll("$region", ".*");
    const withData = new Map<string, number>();
    for (const panel of dashboard.panels)
      for (const t of panel.targets ?? []) {
        const r = await p.query(expand(t.expr));
        withData.set(panel.title, (withData.get(panel.title) ?? 0) + r.length);
      }
    // (Rate panels are left out here: rate() needs two scrapes in its range, which a loaded run may not have yet.)
    for (const title of [
      "Availability over the range",
      "Consensus state",
      "Probe success by region",
      "Impairment marks",
    ])
      expect(withData.get(title), title).toBeGreaterThan(0);
    // Every KV bucket the replica follows into memory has its re-openings counted (0 on a quiet run),
    // and the deciders' result feeds theirs: the panels on them show a line, not "No data".
    const followed = await p.query("count by (bucket) (probemesh_kv_watch_reopens_total)");
    expect(followed.map((s) => s.metric.bucket).sort()).toEqual([
      "probemesh_agents",
      "probemesh_api_tokens",
      "probemesh_checks",
      "probemesh_enrollments",
      "probemesh_impairment",
      "probemesh_leases",
      "probemesh_maintenance",
    ]);
    const feedReasons = await p.query("count by (reason) (probemesh_result_feed_recreations_total)");
    expect(feedReasons.map((s) => s.metric.reason).sort()).toEqual(["heartbeats_missed", "stalled"]);
    // The template variables (Grafana's label_values(metric, label)) list the check and its region.
    for (const v of dashboard.templating.list) {
      const m = /^label_values\((\w+), (\w+)\)$/.exec(v.query.query);
      expect(m, v.query.query).not.toBeNull();
      const values = (await p.query(`count by (${m![2]}) (${m![1]})`)).map((s) => s.metric[m![2]!]);
      expect(values.length, v.query.query).toBeGreaterThan(0);
    }
  }, 60_000);

  it("serves a replica's metrics without a token on PROBEMESH_METRICS_ADDR, and only /metrics", async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const replica = await startControlPlane({
      natsUrl: mesh.nats.url,
      clickhouseUrl: mesh.ch.url,
      caFile: mesh.secureNats!.caFile,
      env: { ...mesh.secureNats!.env, PROBEMESH_REPLICA_ID: "replica-metrics", PROBEMESH_METRICS_ADDR: addr },
    });
    try {
      const res = await fetch(`http://${addr}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/^probemesh_consensus_partitions_owned \d+/m);
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
      expect((await fetch(`http://${addr}/v1/checks`)).status).toBe(404);
    } finally {
      await replica.stop();
    }
  }, 120_000);
});
