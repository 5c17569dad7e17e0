import { describe, expect, it } from "vitest";
import { ConflictError } from "../errors.js";
import { createMemoryEnrollments } from "./memory-enrollments.js";

describe("memory enrollments", () => {
  it("enrolls, authenticates by token, votes only for the enrolled region, and revokes for good", async () => {
    const e = createMemoryEnrollments({ now: () => Date.UTC(2026, 0, 1) });
    const { agent, token } = await e.enroll({ id: "a1", region: "eu-west", provider: "aws" });
    expect(token).toMatch(/^pma_[A-Za-z0-9_-]{43}$/);
    expect(agent).toEqual({ id: "a1", region: "eu-west", provider: "aws", createdAt: "2026-01-01T00:00:00.000Z" });
    await expect(e.enroll({ id: "a1", region: "us-east", provider: "x" })).rejects.toBeInstanceOf(ConflictError);
    expect(e.authenticate(token)?.id).toBe("a1");
    expect(e.authenticate(`${token}x`)).toBeUndefined();
    expect(e.mayVote("a1", "eu-west")).toBe(true);
    expect(e.mayVote("a1", "us-east")).toBe(false);
    expect(e.mayVote("nobody", "eu-west")).toBe(false);
    expect([...e.regions()]).toEqual(["eu-west"]);

    const revoked: string[] = [];
    const off = e.onRevoked((a) => revoked.push(a.id));
    expect(await e.revoke("a1")).toBe(true);
    expect(await e.revoke("nobody")).toBe(false);
    expect(revoked).toEqual(["a1"]);
    expect(e.get("a1")?.revokedAt).toBe("2026-01-01T00:00:00.000Z");
    expect(e.mayVote("a1", "eu-west")).toBe(false);
    expect(e.authenticate(token)).toBeUndefined();
    expect([...e.regions()]).toEqual([]);
    await expect(e.enroll({ id: "a1", region: "eu-west", provider: "aws" })).rejects.toBeInstanceOf(ConflictError);
    off();
    await e.enroll({ id: "a2", region: "eu-west", provider: "aws" });
    await e.revoke("a2");
    expect(revoked).toEqual(["a1"]);
    expect(e.list().map((a) => a.id)).toEqual(["a1", "a2"]);
  });
});
