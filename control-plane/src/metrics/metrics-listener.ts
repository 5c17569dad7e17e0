import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { MetricsSource } from "./metrics-route.js";

/** The plain-HTTP metrics listener (PROBEMESH_METRICS_ADDR). */
export interface MetricsListener {
  /** host:port actually bound. */
  readonly addr: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (and nothing else: 404) on host:port `addr` over plain HTTP without a
 * token, for a Prometheus on the same host or private network. The address policy is the config's
 * ({@link metricsAddrProblem}).
 */
export async function startMetricsListener({
  addr,
  metrics,
  log,
}: {
  addr: string;
  metrics: MetricsSource;
  log: Logger;
}): Promise<MetricsListener> {
  const sep = addr.lastIndexOf(":");
  const host = addr.slice(0, sep).replace(/^\[(.*)\]$/, "$1");
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    metrics.render().then(
      ({ contentType, body }) =>
        res.writeHead(200, { "content-type": contentType }).end(req.method === "HEAD" ? undefined : body),
      (err: unknown) => {
        log.warn({ err }, "could not render the metrics");
        res.writeHead(500, { "content-type": "text/plain" }).end("could not render the metrics\n");
      },
    );
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`metrics listener cannot listen on ${addr}: ${err.message}`, { cause: err })),
    );
    server.listen(Number(addr.slice(sep + 1)), host, () => resolve((server.address() as AddressInfo).port));
  });
  const actual = `${addr.slice(0, sep)}:${port}`;
  log.info({ addr: actual }, "metrics listening (GET /metrics, no token)");
  return {
    addr: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
