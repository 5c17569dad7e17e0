import { resultSubject } from "@probemesh/proto";
import { publicKeyOf, userCreds } from "./nats-jwt.js";

/** Default lifetime of an agent's NATS credentials: revocation takes effect within this at most. */
export const DEFAULT_AGENT_CREDENTIALS_TTL_MS = 15 * 60_000;

/** NATS credentials issued to one agent. */
export interface AgentNatsCredentials {
  /** The standard `.creds` file text (user JWT and its nkey seed). */
  creds: string;
  /** Unix ms after which NATS refuses them (and closes connections made with them). */
  expiresAt: number;
}

/** Mints NATS credentials for agents. */
export interface AgentCredentialIssuer {
  /** The account the agents' users belong to ("A…"). */
  readonly account: string;
  issue(agent: { id: string; region: string }): Promise<AgentNatsCredentials>;
}

/** The inbox prefix an agent's NATS client must use (nats.js `inboxPrefix`): its only subscribe permission. */
export function agentInboxPrefix(agentId: string): string {
  return `_INBOX_${agentId}`;
}

/**
 * The permissions of an agent's NATS user: publish only its own results subjects (the partitioned
 * `probemesh.results.<region>.<id>.<partition>`, and the 4-token form an agent uses while its control plane
 * announces no partition count), subscribe only its own inbox (where JetStream publish acks arrive). No KV,
 * no hook queue, no stream API. Which partition a result may go to is checked by ingest's binding, not here.
 */
export function agentPermissions(agent: { id: string; region: string }): {
  pub: { allow: string[] };
  sub: { allow: string[] };
} {
  return {
    pub: { allow: [resultSubject(agent.region, agent.id), `${resultSubject(agent.region, agent.id)}.*`] },
    sub: { allow: [`${agentInboxPrefix(agent.id)}.>`] },
  };
}

/**
 * Creates the issuer of agent NATS credentials: short-lived user JWTs of `account`, signed by one
 * of its signing keys (PROBEMESH_NATS_SIGNING_KEY_FILE), so that a revoked agent loses NATS
 * within `ttlMs` without the account JWT changing.
 */
export function createAgentCredentialIssuer(opts: {
  /** The signing key's seed ("SA…"); listed in the account JWT's signing keys. */
  signingKeySeed: string;
  /** The account's public key ("A…"). */
  account: string;
  /** @default DEFAULT_AGENT_CREDENTIALS_TTL_MS */
  ttlMs?: number;
  /** @default Date.now */
  now?: () => number;
}): AgentCredentialIssuer {
  const ttlMs = opts.ttlMs ?? DEFAULT_AGENT_CREDENTIALS_TTL_MS;
  const now = opts.now ?? Date.now;
  const signer = opts.signingKeySeed.trim();
  if (!signer.startsWith("SA")) throw new RangeError("the NATS signing key must be an account seed (SA…)");
  if (!/^A[A-Z2-7]{55}$/.test(opts.account)) throw new RangeError("the NATS account must be a public key (A…)");
  if (publicKeyOf(signer) === opts.account)
    throw new RangeError("the NATS signing key must be a signing key of the account, not its own key");
  return {
    account: opts.account,
    async issue(agent) {
      // Whole seconds: that is what the JWT holds, so the agent's renewal time matches the server's.
      const expiresAt = Math.floor((now() + ttlMs) / 1000) * 1000;
      const creds = await userCreds({
        name: `agent-${agent.id}`,
        account: opts.account,
        signerSeed: signer,
        permissions: agentPermissions(agent),
        expiresAt,
      });
      return { creds, expiresAt };
    },
  };
}
