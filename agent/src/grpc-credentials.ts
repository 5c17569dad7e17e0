import { readFileSync } from "node:fs";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";
import type { AgentConfig } from "./config.js";

/**
 * The channel credentials towards the control plane: TLS verified against PROBEMESH_CA_FILE when
 * set, else plaintext (config.ts allows that only to loopback, or with PROBEMESH_INSECURE=true).
 */
export function grpcChannelCredentials(config: Pick<AgentConfig, "caFile">): ChannelCredentials {
  return config.caFile ? credentials.createSsl(readFileSync(config.caFile)) : credentials.createInsecure();
}
