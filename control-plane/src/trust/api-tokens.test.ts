import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { createMemoryApiTokens, grantedScopes } from "./api-tokens.js";

describe("API token scopes", () => {
  it("admin implies write implies read", () => {
    expect([...grantedScopes(["admin"])]).toEqual(["read", "write", "admin"]);
    expect([...grantedScopes(["write"])]).toEqual(["read", "write"]);
    expect([...grantedScopes(["read"])]).toEqual(["read"]);
    expect([...grantedScopes(["read", "admin"])]).toEqual(["read", "write", "admin"]);
    expect(grantedScopes([]).size).toBe(0);
  });
});

describe("memory API tokens", () => {
  it("creates a pmt_ token shown once, authenticates it by hash, lists without it, revokes it", async () => {
    const tokens = createMemoryApiTokens({ now: () => 1000 });
    const { info, token } = await tokens.create({ name: "grafana", scopes: ["read", "read"] });
    expect(token).toMatch(/^pmt_[A-Za-z0-9_-]{43}$/);
    expect(info).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      name: "grafana",
      scopes: ["read"],
      createdAt: 1000,
    });
    expect(tokens.authenticate(token)).toEqual(info);
    expect(tokens.authenticate("pmt_wrong")).toBeUndefined();
    expect(JSON.stringify(tokens.list())).not.toContain(token);
    expect(tokens.get(info.id)).toEqual(info);
    expect(await tokens.revoke(info.id)).toBe(true);
    expect(await tokens.revoke(info.id)).toBe(false);
    expect(tokens.authenticate(token)).toBeUndefined();
    expect(tokens.list()).toEqual([]);
  });

  it("refuses an empty name, no scopes or an unknown scope", async () => {
    const tokens = createMemoryApiTokens();
    await expect(tokens.create({ name: "", scopes: ["read"] })).rejects.toBeInstanceOf(ValidationError);
    await expect(tokens.create({ name: "x", scopes: [] })).rejects.toMatchObject({ details: { field: "scopes" } });
    await expect(tokens.create({ name: "x", scopes: ["root" as "read"] })).rejects.toBeInstanceOf(ValidationError);
  });
});
