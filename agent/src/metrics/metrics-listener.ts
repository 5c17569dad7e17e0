import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";

/** The agent's metrics listener (PROBEMESH_METRICS_ADDR). */
export interface AgentMetricsListener {
  /** host:port actually bound. */
  readonly addr: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (anything else: 404) over plain HTTP without a token on host:port `addr`
 * (loopback or private unless PROBEMESH_INSECURE=true: the config checks).
 */
export async function startAgentMetricsListener(opts: {
  addr: string;
  render: () => Promise<{ contentType: string; body: string }>;
  log: Logger;
}): Promise<AgentMetricsListener> {
  const sep = opts.addr.lastIndexOf(":");
  const server = createServer((req, res) => {
    if ((req.url ?? "").split("?")[0] !== "/metrics" || req.method !== "GET") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
      return;
    }
    opts.render().then(
      (m) => res.writeHead(200, { "content-type": m.contentType }).end(m.body),
      (err: unknown) => {
        opts.log.warn({ err }, "could not render the metrics");
        res.writeHead(500).end();
      },
    );
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`metrics listener cannot listen on ${opts.addr}: ${err.message}`, { cause: err })),
    );
    const host = opts.addr.slice(0, sep).replace(/^\[(.*)\]$/, "$1");
    server.listen(Number(opts.addr.slice(sep + 1)), host, () => resolve((server.address() as AddressInfo).port));
  });
  const addr = `${opts.addr.slice(0, sep)}:${port}`;
  opts.log.info({ addr }, "metrics listening (GET /metrics, no token)");
  return {
    addr,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
