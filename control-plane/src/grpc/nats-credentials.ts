import { create } from "@bufbuild/protobuf";
import { status, type sendUnaryData } from "@grpc/grpc-js";
import { GetNatsCredentialsResponseSchema, type GetNatsCredentialsResponse } from "@probemesh/proto";
import type { Logger } from "pino";
import type { AgentCredentialIssuer } from "../trust/agent-credentials.js";

/** The agent a credential request is answered for: who the authentication says it is, never what it claims. */
export interface AuthenticatedAgent {
  id: string;
  region: string;
}

/**
 * Answers GetNatsCredentials for an authenticated agent: fresh short-lived NATS credentials, or
 * FAILED_PRECONDITION when this control plane has no signing key (the agent then connects with
 * what it was configured with). The credentials are never logged.
 */
export function createNatsCredentialsHandler(opts: {
  issuer: AgentCredentialIssuer | undefined;
  log: Logger;
}): (agent: AuthenticatedAgent, callback: sendUnaryData<GetNatsCredentialsResponse>) => void {
  const log = opts.log.child({ component: "nats-credentials" });
  return (agent, callback) => {
    const issuer = opts.issuer;
    if (!issuer) {
      callback({
        code: status.FAILED_PRECONDITION,
        details: "this control plane issues no NATS credentials (PROBEMESH_NATS_SIGNING_KEY_FILE is not set)",
      });
      return;
    }
    issuer.issue(agent).then(
      ({ creds, expiresAt }) => {
        log.info(
          { agentId: agent.id, region: agent.region, expiresAt: new Date(expiresAt).toISOString() },
          "NATS credentials issued",
        );
        callback(null, create(GetNatsCredentialsResponseSchema, { creds, expiresAt: BigInt(expiresAt) }));
      },
      (err: unknown) => {
        log.error({ err, agentId: agent.id }, "cannot issue NATS credentials");
        callback({ code: status.INTERNAL, details: "cannot issue NATS credentials" });
      },
    );
  };
}
