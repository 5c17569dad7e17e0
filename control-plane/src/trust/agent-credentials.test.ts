import { describe, expect, it } from "vitest";
import { agentInboxPrefix, createAgentCredentialIssuer } from "./agent-credentials.js";
import { credsJwt, decodeUser, newSeed, publicKeyOf } from "./nats-jwt.js";

describe("createAgentCredentialIssuer", () => {
  const accountSeed = newSeed("account");
  const account = publicKeyOf(accountSeed);
  const signingKeySeed = newSeed("account");

  it("mints a .creds file whose JWT allows only the agent's results subjects and inbox, expiring after the TTL", async () => {
    const now = 1_800_000_000_000;
    const issuer = createAgentCredentialIssuer({ signingKeySeed, account, ttlMs: 10 * 60_000, now: () => now + 123 });
    const { creds, expiresAt } = await issuer.issue({ id: "agent-1", region: "eu-west" });
    expect(expiresAt).toBe(now + 10 * 60_000);
    expect(creds).toMatch(/-----BEGIN USER NKEY SEED-----\s+SU[A-Z2-7]+\s+------END USER NKEY SEED------/);
    const claims = decodeUser(credsJwt(creds) ?? "");
    expect(claims.exp).toBe(expiresAt / 1000);
    expect(claims.iss).toBe(publicKeyOf(signingKeySeed));
    expect(claims.nats.issuer_account).toBe(account);
    expect(claims.name).toBe("agent-agent-1");
    expect(claims.nats.pub).toEqual({
      allow: ["probemesh.results.eu-west.agent-1", "probemesh.results.eu-west.agent-1.*"],
      deny: [],
    });
    expect(claims.nats.sub).toEqual({ allow: ["_INBOX_agent-1.>"], deny: [] });
    expect(agentInboxPrefix("agent-1")).toBe("_INBOX_agent-1");
  });

  it("gives every issue a new user key", async () => {
    const issuer = createAgentCredentialIssuer({ signingKeySeed, account });
    const a = decodeUser(credsJwt((await issuer.issue({ id: "a", region: "r" })).creds) ?? "");
    const b = decodeUser(credsJwt((await issuer.issue({ id: "a", region: "r" })).creds) ?? "");
    expect(a.sub).not.toBe(b.sub);
  });

  it("defaults to a 15-minute lifetime", async () => {
    const issuer = createAgentCredentialIssuer({ signingKeySeed, account, now: () => 1_000_000 });
    expect((await issuer.issue({ id: "a", region: "r" })).expiresAt).toBe(1_000_000 + 15 * 60_000);
  });

  it("refuses the account's own key, a non-account seed and a bad account", () => {
    expect(() => createAgentCredentialIssuer({ signingKeySeed: accountSeed, account })).toThrow(
      /signing key of the account/,
    );
    expect(() => createAgentCredentialIssuer({ signingKeySeed: newSeed("user"), account })).toThrow(/SA/);
    expect(() => createAgentCredentialIssuer({ signingKeySeed, account: "nope" })).toThrow(/public key/);
  });

  it("refuses an agent id or region that is not a subject token", async () => {
    const issuer = createAgentCredentialIssuer({ signingKeySeed, account });
    await expect(issuer.issue({ id: "a.>", region: "r" })).rejects.toThrow(RangeError);
  });
});
