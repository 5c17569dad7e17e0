import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Logger } from "pino";
import type { ServerTls } from "../trust/tls-files.js";

/** A listening HTTP server for the API. */
export interface ApiServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** host:port actually bound. */
  readonly addr: string;
  /** Stops accepting connections and closes idle ones; resolves when all are closed. */
  close(): Promise<void>;
}

/**
 * Serves `app` on `addr` (host:port, PROBEMESH_HTTP_ADDR; port 0 picks a free one); HTTPS with
 * `tls` (PROBEMESH_TLS_CERT/KEY).
 */
export async function startApiServer({
  addr,
  app,
  log,
  tls,
}: {
  addr: string;
  app: { fetch: (request: Request) => Response | Promise<Response> };
  log: Logger;
  tls?: ServerTls;
}): Promise<ApiServer> {
  const sep = addr.lastIndexOf(":");
  const hostname = addr.slice(0, sep).replace(/^\[(.*)\]$/, "$1");
  const port = Number(addr.slice(sep + 1));
  const server = tls
    ? serve({ fetch: app.fetch, hostname, port, createServer: createHttpsServer, serverOptions: tls })
    : serve({ fetch: app.fetch, hostname, port });
  const bound = await new Promise<number>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`HTTP API cannot listen on ${addr}: ${err.message}`, { cause: err })),
    );
    server.once("listening", () => resolve((server.address() as AddressInfo).port));
  });
  const actual = `${addr.slice(0, sep)}:${bound}`;
  log.child({ component: "api" }).info({ addr: actual, tls: tls !== undefined }, "HTTP API listening");
  return {
    port: bound,
    addr: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeIdleConnections" in server) server.closeIdleConnections();
      }),
  };
}
