// The one stand-in for the control plane's agent service (agent unit tests, benchmarks, test/):
// a real grpc-js server on 127.0.0.1 speaking probemesh.v1.AgentService, driven by the test.
import { create } from "@bufbuild/protobuf";
import { Server, ServerCredentials, status, type ServerWritableStream } from "@grpc/grpc-js";
import {
  AgentService,
  grpcServiceDefinition,
  GetNatsCredentialsResponseSchema,
  HeartbeatResponseSchema,
  type Check,
  type GetNatsCredentialsRequest,
  type GrpcServiceImplementation,
  type HeartbeatRequest,
  type WatchAssignmentsRequest,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import { deltaResponse, snapshotResponse } from "@probemesh/proto/testing";
import { sleep } from "../sleep.js";

/** An open WatchAssignments stream, as the server sees it. */
export type FakeAssignmentStream = ServerWritableStream<WatchAssignmentsRequest, WatchAssignmentsResponse>;

/** Options of {@link startFakeControlPlane}. */
export interface FakeControlPlaneOptions {
  /** Port on 127.0.0.1; 0 picks a free one. A port still held (a restart) is retried for about 5 s. @default 0 */
  port?: number;
  /** Token agents must send as `authorization: Bearer <token>`; a stream without it fails UNAUTHENTICATED. @default any token accepted */
  token?: string;
  /** Checks sent as snapshot version 1 when a stream opens. @default no snapshot (the test writes to the stream) */
  checks?: Check[] | (() => Check[]);
  /** Partition count announced in the snapshot and every delta. @default 0 (none, as before partitions) */
  partitions?: number;
  /** Called for each accepted stream, after the snapshot if any. @default nothing */
  onWatch?: (stream: FakeAssignmentStream) => void;
  /** Answers GetNatsCredentials: `.creds` text and Unix ms expiry. @default FAILED_PRECONDITION (issues none) */
  natsCredentials?: (request: GetNatsCredentialsRequest) => { creds: string; expiresAt: number };
}

/** A running fake control plane and what agents sent it. */
export interface FakeControlPlane {
  readonly port: number;
  /** host:port the agent dials. */
  readonly addr: string;
  /** Every WatchAssignments call, accepted or not, with the authorization it presented. */
  readonly watches: { request: WatchAssignmentsRequest; authorization: unknown }[];
  /** Heartbeats received, in order. */
  readonly heartbeats: HeartbeatRequest[];
  /** GetNatsCredentials calls received, in order. */
  readonly credentialRequests: GetNatsCredentialsRequest[];
  /** Assignment streams open right now. */
  readonly streams: Set<FakeAssignmentStream>;
  /** Writes a delta to every open stream. */
  delta(version: bigint, upserted: Check[], removed?: string[]): void;
  /** Stops at once, cutting every stream. */
  stop(): void;
}

/** Starts a fake control plane on 127.0.0.1. */
export async function startFakeControlPlane(opts: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
  const watches: FakeControlPlane["watches"] = [];
  const heartbeats: HeartbeatRequest[] = [];
  const credentialRequests: GetNatsCredentialsRequest[] = [];
  const streams = new Set<FakeAssignmentStream>();
  const implementation: GrpcServiceImplementation<typeof AgentService> = {
    watchAssignments(call) {
      const authorization = call.metadata.get("authorization")[0];
      watches.push({ request: call.request, authorization });
      if (opts.token !== undefined && authorization !== `Bearer ${opts.token}`) {
        call.emit("error", { code: status.UNAUTHENTICATED, details: "bad agent token" });
        return;
      }
      streams.add(call);
      call.on("cancelled", () => streams.delete(call));
      // The stream stays open, as the real control plane's does, until the agent goes away.
      if (opts.checks) {
        const checks = typeof opts.checks === "function" ? opts.checks() : opts.checks;
        call.write(snapshotResponse(1n, checks, opts.partitions ?? 0));
      }
      opts.onWatch?.(call);
    },
    heartbeat(call, callback) {
      heartbeats.push(call.request);
      callback(null, create(HeartbeatResponseSchema, { serverTimeMs: BigInt(Date.now()) }));
    },
    getNatsCredentials(call, callback) {
      credentialRequests.push(call.request);
      if (!opts.natsCredentials) {
        callback({ code: status.FAILED_PRECONDITION, details: "no NATS credentials issued here" });
        return;
      }
      const { creds, expiresAt } = opts.natsCredentials(call.request);
      callback(null, create(GetNatsCredentialsResponseSchema, { creds, expiresAt: BigInt(expiresAt) }));
    },
  };
  const server = new Server();
  server.addService(grpcServiceDefinition(AgentService), implementation);
  const port = await bind(server, opts.port ?? 0);
  return {
    port,
    addr: `127.0.0.1:${port}`,
    watches,
    heartbeats,
    credentialRequests,
    streams,
    delta(version, upserted, removed = []) {
      for (const s of streams) s.write(deltaResponse(version, upserted, removed, opts.partitions ?? 0));
    },
    stop: () => server.forceShutdown(),
  };
}

async function bind(server: Server, port: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<number>((resolve, reject) =>
        server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
    } catch (err) {
      if (attempt >= 50) throw err;
      await sleep(100);
    }
  }
}
