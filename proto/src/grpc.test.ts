import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { AgentService, HeartbeatRequestSchema } from "./index.js";
import { grpcServiceDefinition } from "./grpc.js";

describe("grpcServiceDefinition", () => {
  const def = grpcServiceDefinition(AgentService);

  it("derives paths and streaming flags from the descriptor", () => {
    expect(def.watchAssignments?.path).toBe("/probemesh.v1.AgentService/WatchAssignments");
    expect(def.watchAssignments?.responseStream).toBe(true);
    expect(def.watchAssignments?.requestStream).toBe(false);
    expect(def.heartbeat?.path).toBe("/probemesh.v1.AgentService/Heartbeat");
    expect(def.heartbeat?.responseStream).toBe(false);
  });

  it("round-trips messages through the serializers", () => {
    const msg = create(HeartbeatRequestSchema, { outboxDepth: 7, lastSeq: 42n });
    const bytes = def.heartbeat!.requestSerialize(msg);
    const back = def.heartbeat!.requestDeserialize(bytes) as typeof msg;
    expect(back.outboxDepth).toBe(7);
    expect(back.lastSeq).toBe(42n);
  });
});
