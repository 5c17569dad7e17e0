// A real Prometheus (Debian's /usr/bin/prometheus) scraping what a test names, on a free port with
// its own temp dir; stopped by its PID.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitFor, type Managed } from "./process.js";

/** The Prometheus binary (`deploy/bootstrap.sh test` installs it). */
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
/** promtool, for `promtool check metrics`. */
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? "/usr/bin/promtool";

/** One scrape job. */
export interface ScrapeJob {
  job: string;
  /** host:port targets. */
  targets: string[];
  /** @default "http" */
  scheme?: "http" | "https";
  /** Sent as `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** CA (PEM file) the targets' certificates are verified against. */
  caFile?: string;
}

/** A running Prometheus. */
export interface Prometheus {
  /** Base URL of its HTTP API (`http://127.0.0.1:<port>`). */
  readonly url: string;
  readonly proc: Managed;
  /** The result vector of an instant query (`/api/v1/query`). */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** The scrape targets and their health (`/api/v1/targets`). */
  targets(): Promise<{ job: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

/** The scrape config: every job at `scrapeIntervalMs`. */
export function scrapeConfig(jobs: readonly ScrapeJob[], scrapeIntervalMs: number): string {
  const lines = [
    "global:",
    `  scrape_interval: ${scrapeIntervalMs}ms`,
    `  scrape_timeout: ${scrapeIntervalMs}ms`,
    "scrape_configs:",
  ];
  for (const j of jobs) {
    lines.push(`  - job_name: ${JSON.stringify(j.job)}`, `    scheme: ${j.scheme ?? "http"}`);
    if (j.bearerToken)
      lines.push("    authorization:", "      type: Bearer", `      credentials: ${JSON.stringify(j.bearerToken)}`);
    if (j.caFile) lines.push("    tls_config:", `      ca_file: ${JSON.stringify(j.caFile)}`);
    lines.push("    static_configs:", `      - targets: ${JSON.stringify(j.targets)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Starts Prometheus with a generated scrape config and waits until it is ready. */
export async function startPrometheus(opts: {
  jobs: readonly ScrapeJob[];
  scrapeIntervalMs?: number;
}): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, scrapeConfig(opts.jobs, opts.scrapeIntervalMs ?? 1000));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess("prometheus", PROMETHEUS_BIN, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ]);
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor("Prometheus to be ready", async () => {
      if (proc.exited()) throw new Error(`prometheus exited:\n${proc.output()}`);
      return (await fetch(`${url}/-/ready`)).ok;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  return {
    url,
    proc,
    query: async (promql) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(promql)}`,
        )
      ).result,
    targets: async () =>
      (
        await api<{ activeTargets: { labels: { job: string }; health: string; lastError: string }[] }>(
          "/api/v1/targets",
        )
      ).activeTargets.map((t) => ({ job: t.labels.job, health: t.health, lastError: t.lastError })),
    stop,
  };
}

/** `promtool check metrics` on an exposition: its complaints ("" when it passes) and exit status. */
export function promtoolCheckMetrics(exposition: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL_BIN, ["check", "metrics"], { input: exposition, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ""}` };
}
