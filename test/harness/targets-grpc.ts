import {
  Server,
  ServerCredentials,
  status,
  type ServiceDefinition,
  type sendUnaryData,
  type ServerUnaryCall,
} from "@grpc/grpc-js";
import type { KeyPair } from "./targets-certs.js";

/** Serving status numbers of grpc.health.v1. */
export const SERVING = 1;
export const NOT_SERVING = 2;

function decodeService(buf: Buffer): string {
  // HealthCheckRequest { string service = 1; }: tag 0x0a, one-byte length for the short names used here.
  if (buf.length >= 2 && buf[0] === 0x0a) return buf.toString("utf8", 2, 2 + buf[1]!);
  return "";
}

const healthService: ServiceDefinition = {
  Check: {
    path: "/grpc.health.v1.Health/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (v: number) => Buffer.from([0x08, v]),
    responseDeserialize: (b: Buffer) => b[1] ?? 0,
  },
};

/** A gRPC server with the standard health service on 127.0.0.1. */
export interface GrpcTarget {
  /** "127.0.0.1:port" (plaintext). */
  address: string;
  /** "127.0.0.1:port" (TLS with the given certificate), when one was given. */
  tlsAddress?: string;
  /** Metadata of the last call (to prove metadata was sent). */
  lastMetadata(): Record<string, unknown>;
  close(): Promise<void>;
}

/**
 * Serves grpc.health.v1.Health/Check: "" and "ok" are SERVING, "down" NOT_SERVING, "slow"
 * answers after 5 s, anything else NOT_FOUND (as the health protocol specifies).
 */
export async function startGrpcTarget(tls?: KeyPair): Promise<GrpcTarget> {
  let metadata: Record<string, unknown> = {};
  const impl = {
    Check(call: ServerUnaryCall<Buffer, number>, cb: sendUnaryData<number>) {
      metadata = call.metadata.getMap();
      const service = decodeService(call.request);
      if (service === "" || service === "ok") cb(null, SERVING);
      else if (service === "down") cb(null, NOT_SERVING);
      else if (service === "slow") setTimeout(() => cb(null, SERVING), 5000).unref();
      else cb({ code: status.NOT_FOUND, details: "unknown service" });
    },
  };
  const bind = async (creds: ServerCredentials) => {
    const server = new Server();
    server.addService(healthService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    return { server, port };
  };
  const plain = await bind(ServerCredentials.createInsecure());
  const secure = tls
    ? await bind(
        ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }]),
      )
    : undefined;
  return {
    address: `127.0.0.1:${plain.port}`,
    ...(secure ? { tlsAddress: `127.0.0.1:${secure.port}` } : {}),
    lastMetadata: () => metadata,
    async close() {
      plain.server.forceShutdown();
      secure?.server.forceShutdown();
    },
  };
}
