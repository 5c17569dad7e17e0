import { create } from "@bufbuild/protobuf";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { AgentInfoSchema, GetNatsCredentialsRequestSchema } from "@probemesh/proto";
import type { AgentIdentity } from "../assignments/assignment-client.js";
import { codeName, isReplicaFailure, type ControlPlaneReplicas } from "../control-plane-replicas.js";
import type { IssuedCredentials } from "./nats-credentials.js";

/** The GetNatsCredentials call of the agent service. */
export interface CredentialsClient {
  /** Fresh credentials; undefined when the control plane issues none (FAILED_PRECONDITION). */
  fetch(): Promise<IssuedCredentials | undefined>;
}

/**
 * Creates the client of GetNatsCredentials. It asks the current replica (the one the assignment
 * stream uses, on the same channel); a replica that does not answer (UNAVAILABLE, deadline) is
 * left for the next one, and the caller's retry goes there.
 */
export function createCredentialsClient(options: {
  replicas: ControlPlaneReplicas;
  token: string;
  agent: AgentIdentity;
  /** Deadline of one call. @default 10000 */
  timeoutMs?: number;
}): CredentialsClient {
  const { replicas } = options;
  const request = create(GetNatsCredentialsRequestSchema, { agent: create(AgentInfoSchema, options.agent) });
  return {
    fetch() {
      const md = new Metadata();
      md.set("authorization", `Bearer ${options.token}`);
      const addr = replicas.current();
      return new Promise((resolve, reject) => {
        replicas
          .client()
          .getNatsCredentials(
            request,
            md,
            { deadline: Date.now() + (options.timeoutMs ?? 10_000) },
            (err: ServiceError | null, res) => {
              if (err && isReplicaFailure(err.code))
                replicas.moveOn(addr, `GetNatsCredentials failed (${codeName(err.code)}: ${err.details})`);
              if (err?.code === status.FAILED_PRECONDITION || err?.code === status.UNIMPLEMENTED) resolve(undefined);
              else if (err || !res) reject(err ?? new Error("empty GetNatsCredentials response"));
              else if (res.creds === "") resolve(undefined);
              else resolve({ creds: res.creds, expiresAt: Number(res.expiresAt) });
            },
          );
      });
    },
  };
}
