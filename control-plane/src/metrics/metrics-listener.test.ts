import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { parseCheckLabelNames } from "./check-label-names.js";
import { createControlPlaneMetrics } from "./control-plane-metrics.js";
import { metricsAddrProblem } from "./listen-addr.js";
import { startMetricsListener } from "./metrics-listener.js";

describe("the PROBEMESH_METRICS_ADDR listener", () => {
  it("serves GET /metrics without a token, and nothing else", async () => {
    const metrics = createControlPlaneMetrics();
    const l = await startMetricsListener({ addr: "127.0.0.1:0", metrics, log: pino({ level: "silent" }) });
    try {
      const res = await fetch(`http://${l.addr}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await res.text()).toContain("# TYPE probemesh_ingest_received_total counter");
      expect((await fetch(`http://${l.addr}/v1/checks`)).status).toBe(404);
      expect((await fetch(`http://${l.addr}/metrics`, { method: "POST" })).status).toBe(404);
    } finally {
      await l.close();
    }
  });

  it("refuses a public address unless insecure, with the way out in the message", () => {
    for (const ok of [
      "127.0.0.1:9464",
      "localhost:9464",
      "10.0.0.1:9464",
      "172.31.255.255:1",
      "192.168.0.10:1",
      "[::1]:9464",
      "[fd12::3]:1",
    ])
      expect(metricsAddrProblem(ok, false), ok).toBeUndefined();
    for (const bad of [
      "0.0.0.0:9464",
      "172.32.0.1:9464",
      "203.0.113.5:9464",
      "[::]:9464",
      "[2001:db8::1]:9464",
      "prom.example.com:9464",
    ])
      expect(metricsAddrProblem(bad, false), bad).toMatch(/not a loopback or private address.*PROBEMESH_INSECURE=true/);
    expect(metricsAddrProblem("0.0.0.0:9464", true)).toBeUndefined();
  });
});

describe("PROBEMESH_METRICS_CHECK_LABELS", () => {
  it("sanitises names and refuses reserved, duplicate, empty entries and more than 10", () => {
    expect(parseCheckLabelNames(undefined)).toEqual([]);
    expect(parseCheckLabelNames(" team , app.kubernetes.io/name,1st ")).toEqual([
      { key: "team", name: "team" },
      { key: "app.kubernetes.io/name", name: "app_kubernetes_io_name" },
      { key: "1st", name: "_1st" },
    ]);
    expect(() => parseCheckLabelNames("region")).toThrow(/"region"/);
    expect(() => parseCheckLabelNames("__name__")).toThrow(/reserves/);
    expect(() => parseCheckLabelNames("a-b,a.b")).toThrow(/twice/);
    expect(() => parseCheckLabelNames("a,,b")).toThrow(/empty entry/);
    expect(() => parseCheckLabelNames("a,b,c,d,e,f,g,h,i,j,k")).toThrow(/at most 10/);
  });
});
