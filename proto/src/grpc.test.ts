import { create } from "@bufbuild/protobuf";
import type {
  ClientReadableStream,
  handleServerStreamingCall,
  handleUnaryCall,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  AgentService,
  HeartbeatRequestSchema,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type WatchAssignmentsRequest,
  type WatchAssignmentsResponse,
} from "./index.js";
import { grpcServiceDefinition, type GrpcClient, type GrpcServiceImplementation } from "./grpc.js";

const def = grpcServiceDefinition(AgentService);

describe("grpcServiceDefinition", () => {
  it("derives paths and streaming flags from the descriptor", () => {
    expect(def.watchAssignments?.path).toBe("/probemesh.v1.AgentService/WatchAssignments");
    expect(def.watchAssignments?.responseStream).toBe(true);
    expect(def.watchAssignments?.requestStream).toBe(false);
    expect(def.heartbeat?.path).toBe("/probemesh.v1.AgentService/Heartbeat");
    expect(def.heartbeat?.responseStream).toBe(false);
  });

  it("round-trips messages through the serializers", () => {
    const msg = create(HeartbeatRequestSchema, { outboxDepth: 7, lastSeq: 42n });
    const bytes = def.heartbeat.requestSerialize(msg);
    const back = def.heartbeat.requestDeserialize(bytes);
    expect(back.outboxDepth).toBe(7);
    expect(back.lastSeq).toBe(42n);
  });
});

describe("descriptor-typed grpc-js types", () => {
  it("maps each method to its handler and client call by method kind", () => {
    type Impl = GrpcServiceImplementation<typeof AgentService>;
    expectTypeOf<Impl["heartbeat"]>().toEqualTypeOf<handleUnaryCall<HeartbeatRequest, HeartbeatResponse>>();
    expectTypeOf<Impl["watchAssignments"]>().toEqualTypeOf<
      handleServerStreamingCall<WatchAssignmentsRequest, WatchAssignmentsResponse>
    >();
    expectTypeOf<keyof Impl>().toEqualTypeOf<"heartbeat" | "watchAssignments" | "getNatsCredentials">();
    type Cli = GrpcClient<typeof AgentService>;
    expectTypeOf<ReturnType<Cli["watchAssignments"]>>().toEqualTypeOf<ClientReadableStream<WatchAssignmentsResponse>>();
    expectTypeOf<Parameters<Cli["heartbeat"]>[0]>().toEqualTypeOf<HeartbeatRequest>();
    // What grpc-js's Server.addService takes.
    expectTypeOf<Impl>().toExtend<UntypedServiceImplementation>();
    expectTypeOf(def).toExtend<ServiceDefinition>();
  });
});
