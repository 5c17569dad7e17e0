import { describe, expect, it } from "vitest";
import { ConflictError, ValidationError } from "../errors.js";
import type { EnrolledAgent } from "./enrollment.js";
import { createEnrollmentIndex } from "./enrollment-index.js";
import { createMemoryEnrollments } from "./enrollments.js";
import { hashToken } from "./token.js";

const T0 = Date.UTC(2026, 0, 1);

describe("memory enrollments", () => {
  it("enrolls with a token shown once, authenticates it, and lists agents by id", async () => {
    const e = createMemoryEnrollments({ now: () => T0 });
    const b = await e.enroll({ id: "b-1", region: "us-east", provider: "gcp" });
    const a = await e.enroll({ id: "a-1", region: "eu-west", provider: "aws" });
    expect(a.token).toMatch(/^pma_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.agent).toEqual({ id: "a-1", region: "eu-west", provider: "aws", createdAt: "2026-01-01T00:00:00.000Z" });
    expect(e.authenticate(a.token)).toEqual(a.agent);
    expect(e.authenticate(`${a.token}x`)).toBeUndefined();
    expect(e.authenticate("")).toBeUndefined();
    expect(e.list().map((x) => x.id)).toEqual(["a-1", "b-1"]);
    expect(JSON.stringify(e.list())).not.toContain(a.token);
    expect(e.mayVote("a-1", "eu-west")).toBe(true);
    expect(e.mayVote("a-1", "us-east")).toBe(false);
    expect(e.mayVote("nobody", "eu-west")).toBe(false);
    expect([...e.regions()].sort()).toEqual(["eu-west", "us-east"]);
  });

  it("refuses an id enrolled before, revoked or not, and a malformed request", async () => {
    const e = createMemoryEnrollments();
    await e.enroll({ id: "a-1", region: "eu-west", provider: "" });
    await expect(e.enroll({ id: "a-1", region: "us-east", provider: "" })).rejects.toBeInstanceOf(ConflictError);
    await e.revoke("a-1");
    await expect(e.enroll({ id: "a-1", region: "eu-west", provider: "" })).rejects.toBeInstanceOf(ConflictError);
    await expect(e.enroll({ id: "a.1", region: "eu west", provider: "" })).rejects.toMatchObject({
      name: "ValidationError",
      details: { problems: [{ field: "id" }, { field: "region" }] },
    });
    await expect(e.enroll({ id: "x", region: "r", provider: "\n" })).rejects.toBeInstanceOf(ValidationError);
  });

  it("revocation is permanent: the token stops working, the agent stops voting, listeners hear it once", async () => {
    let now = T0;
    const e = createMemoryEnrollments({ now: () => now });
    const { token } = await e.enroll({ id: "a-1", region: "eu-west", provider: "aws" });
    await e.enroll({ id: "b-1", region: "eu-west", provider: "aws" });
    const heard: EnrolledAgent[] = [];
    const off = e.onRevoked((a) => heard.push(a));
    now += 5000;
    expect(await e.revoke("a-1")).toBe(true);
    expect(await e.revoke("a-1")).toBe(true);
    expect(await e.revoke("nobody")).toBe(false);
    expect(e.authenticate(token)).toBeUndefined();
    expect(e.mayVote("a-1", "eu-west")).toBe(false);
    expect(e.get("a-1")).toMatchObject({ id: "a-1", revokedAt: "2026-01-01T00:00:05.000Z" });
    expect(heard.map((a) => a.id)).toEqual(["a-1"]);
    expect([...e.regions()]).toEqual(["eu-west"]);
    off();
    await e.revoke("b-1");
    expect(heard).toHaveLength(1);
    expect(e.regions().size).toBe(0);
  });
});

describe("enrollment index (what the KV watch feeds)", () => {
  const record = (id: string, token: string, revokedAt?: string) => ({
    id,
    region: "eu-west",
    provider: "p",
    createdAt: "2026-01-01T00:00:00.000Z",
    tokenHash: hashToken(token),
    ...(revokedAt ? { revokedAt } : {}),
  });

  it("a record deleted from the store, or replaced by a revoked one, counts as a revocation; a listener that throws does not stop the others", () => {
    const errors: unknown[] = [];
    const index = createEnrollmentIndex({ hash: hashToken, onListenerError: (err) => errors.push(err) });
    const heard: string[] = [];
    index.onRevoked(() => {
      throw new Error("boom");
    });
    index.onRevoked((a) => heard.push(a.id));
    index.put(record("a", "tok-a"));
    index.put(record("b", "tok-b"));
    expect(index.authenticate("tok-a")?.id).toBe("a");
    index.remove("a");
    index.put(record("b", "tok-b", "2026-01-02T00:00:00.000Z"));
    // Already revoked when first seen (a replica starting late): nothing was connected to it here.
    index.put(record("c", "tok-c", "2026-01-02T00:00:00.000Z"));
    expect(heard).toEqual(["a", "b", "c"]);
    expect(errors).toHaveLength(3);
    expect(index.authenticate("tok-a")).toBeUndefined();
    expect(index.authenticate("tok-b")).toBeUndefined();
    expect(index.list().map((a) => a.id)).toEqual(["b", "c"]);
  });
});
