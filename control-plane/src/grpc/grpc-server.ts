import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ServerTls } from "../trust/tls-files.js";
import type { AgentService } from "./agent-service.js";

/** Options of {@link startGrpcServer}. */
export interface GrpcServerOptions {
  /** host:port to listen on (PROBEMESH_GRPC_ADDR); port 0 picks a free one. */
  addr: string;
  service: AgentService;
  log: Logger;
  /** Interval of the server's own keepalive pings, which end streams to agents that vanished. @default 30000 */
  keepaliveTimeMs?: number;
  /** How long a keepalive ping may go unanswered. @default 10000 */
  keepaliveTimeoutMs?: number;
  /** Serve TLS with this certificate (PROBEMESH_TLS_CERT/KEY). @default plaintext */
  tls?: ServerTls;
}

/** A listening gRPC server. */
export interface GrpcServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** host:port actually bound. */
  readonly addr: string;
  /** Ends open streams, then shuts down; forces it after `graceMs`. @default graceMs 5000 */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a grpc-js server for the agent service: TLS with `tls`, else plaintext (which config.ts
 * allows only on loopback unless PROBEMESH_INSECURE=true).
 * Agents ping every 20 s: grpc-js servers enforce no minimum ping interval, and the options below
 * also allow pings without calls, so agent keepalives never get the connection closed.
 */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const log = opts.log.child({ component: "grpc" });
  const options: ServerOptions = {
    "grpc.keepalive_time_ms": opts.keepaliveTimeMs ?? 30_000,
    "grpc.keepalive_timeout_ms": opts.keepaliveTimeoutMs ?? 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.max_receive_message_length": 1024 * 1024,
  };
  const server = new Server(options);
  server.addService(opts.service.definition, opts.service.implementation);
  const credentials = opts.tls
    ? ServerCredentials.createSsl(null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], false)
    : ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.addr, credentials, (err, bound) => {
      if (err) reject(new Error(`gRPC server cannot listen on ${opts.addr}: ${err.message}`, { cause: err }));
      else resolve(bound);
    });
  });
  const host = opts.addr.slice(0, opts.addr.lastIndexOf(":"));
  const addr = `${host}:${port}`;
  log.info({ addr, tls: opts.tls !== undefined }, "gRPC agent service listening");

  return {
    port,
    addr,
    async close(graceMs = 5000) {
      opts.service.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ graceMs }, "gRPC server did not drain in time; forcing shutdown");
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      log.info("gRPC server stopped");
    },
  };
}
