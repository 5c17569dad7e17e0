import { create } from "@bufbuild/protobuf";
import { Metadata, status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { AgentInfoSchema, AgentService, createGrpcClient, GetNatsCredentialsRequestSchema } from "@probemesh/proto";
import type { AgentIdentity } from "../assignments/assignment-client.js";
import type { IssuedCredentials } from "./nats-credentials.js";

/** The GetNatsCredentials call of the agent service. */
export interface CredentialsClient {
  /** Fresh credentials; undefined when the control plane issues none (FAILED_PRECONDITION). */
  fetch(): Promise<IssuedCredentials | undefined>;
  close(): void;
}

/**
 * Creates the client of GetNatsCredentials. grpc-js shares the connection with the assignment
 * client's (same address, credentials and options use one subchannel).
 */
export function createCredentialsClient(options: {
  grpcAddr: string;
  channelCredentials: ChannelCredentials;
  token: string;
  agent: AgentIdentity;
  /** Deadline of one call. @default 10000 */
  timeoutMs?: number;
}): CredentialsClient {
  const client = createGrpcClient(AgentService, options.grpcAddr, options.channelCredentials);
  const request = create(GetNatsCredentialsRequestSchema, { agent: create(AgentInfoSchema, options.agent) });
  return {
    fetch() {
      const md = new Metadata();
      md.set("authorization", `Bearer ${options.token}`);
      return new Promise((resolve, reject) => {
        client.getNatsCredentials(
          request,
          md,
          { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
          (err: ServiceError | null, res) => {
            if (err?.code === status.FAILED_PRECONDITION || err?.code === status.UNIMPLEMENTED) resolve(undefined);
            else if (err || !res) reject(err ?? new Error("empty GetNatsCredentials response"));
            else if (res.creds === "") resolve(undefined);
            else resolve({ creds: res.creds, expiresAt: Number(res.expiresAt) });
          },
        );
      });
    },
    close: () => client.close(),
  };
}
