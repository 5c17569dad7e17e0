import { create } from "@bufbuild/protobuf";
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from "@grpc/grpc-js";
import {
  AgentService,
  grpcServiceDefinition,
  HeartbeatResponseSchema,
  WatchAssignmentsResponseSchema,
  type Check,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type WatchAssignmentsRequest,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";

/** A control plane reduced to what an agent needs: one snapshot of fixed checks, heartbeats answered. */
export interface FakeControlPlane {
  /** host:port the agent dials. */
  readonly addr: string;
  /** Heartbeats received so far. */
  heartbeats(): number;
  stop(): void;
}

/** Serves `checks` as assignment version 1 to any agent presenting `token`; for benchmarks only. */
export async function startFakeControlPlane(opts: { checks: Check[]; token: string }): Promise<FakeControlPlane> {
  const server = new Server();
  let heartbeats = 0;
  const authorized = (md: { get(key: string): unknown[] }) => md.get("authorization")[0] === `Bearer ${opts.token}`;
  server.addService(grpcServiceDefinition(AgentService), {
    watchAssignments(call: ServerWritableStream<WatchAssignmentsRequest, WatchAssignmentsResponse>) {
      if (!authorized(call.metadata)) {
        call.destroy(Object.assign(new Error("bad token"), { code: 16 }));
        return;
      }
      // The stream stays open, as the real control plane's does, until the agent goes away.
      call.write(
        create(WatchAssignmentsResponseSchema, {
          event: { case: "snapshot", value: { version: 1n, checks: opts.checks } },
        }),
      );
    },
    heartbeat(_call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>) {
      heartbeats++;
      cb(null, create(HeartbeatResponseSchema, { serverTimeMs: BigInt(Date.now()) }));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { addr: `127.0.0.1:${port}`, heartbeats: () => heartbeats, stop: () => server.forceShutdown() };
}
