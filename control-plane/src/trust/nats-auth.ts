import { readFileSync } from "node:fs";
import { credsAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";
import type { Config } from "../config.js";
import { ValidationError } from "../errors.js";
import { createAgentCredentialIssuer, type AgentCredentialIssuer } from "./agent-credentials.js";
import { accountOfUser, credsJwt } from "./nats-jwt.js";

/**
 * The control plane's NATS authentication and TLS options: its `.creds` file (read again at each
 * (re)connect, so replacing the file rotates it without a restart) and the pinned CA.
 */
export function natsConnectionAuth(
  config: Pick<Config, "natsCredsFile" | "caFile">,
): Pick<ConnectionOptions, "authenticator" | "tls"> {
  return {
    ...(config.natsCredsFile
      ? { authenticator: credsAuthenticator(() => readFileSync(config.natsCredsFile ?? "")) }
      : {}),
    ...(config.caFile ? { tls: { caFile: config.caFile } } : {}),
  };
}

/**
 * The issuer of agents' NATS credentials, or undefined when PROBEMESH_NATS_SIGNING_KEY_FILE is not
 * set. The account is the one of the control plane's own user (PROBEMESH_NATS_CREDS): agents must
 * publish into the account whose stream the control plane reads. Throws ValidationError on bad files.
 */
export function loadAgentCredentialIssuer(
  config: Pick<Config, "natsSigningKeyFile" | "natsCredsFile" | "agentNatsCredsTtlMs">,
): AgentCredentialIssuer | undefined {
  if (!config.natsSigningKeyFile) return undefined;
  const jwt = config.natsCredsFile ? credsJwt(readFileSync(config.natsCredsFile, "utf8")) : undefined;
  if (!jwt) throw new ValidationError("PROBEMESH_NATS_CREDS holds no NATS user JWT", { field: "PROBEMESH_NATS_CREDS" });
  try {
    return createAgentCredentialIssuer({
      signingKeySeed: readFileSync(config.natsSigningKeyFile, "utf8"),
      account: accountOfUser(jwt),
      ttlMs: config.agentNatsCredsTtlMs,
    });
  } catch (err) {
    throw new ValidationError(`PROBEMESH_NATS_SIGNING_KEY_FILE: ${err instanceof Error ? err.message : String(err)}`, {
      field: "PROBEMESH_NATS_SIGNING_KEY_FILE",
    });
  }
}
