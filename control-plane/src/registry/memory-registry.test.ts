import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { validateCheck } from "../checks/validate-check.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { createCheckCache } from "./check-cache.js";
import { createSecretBox, generateKeySpec, parseKeyRing } from "../trust/secret-box.js";
import { checkIdFromKey, checkKey, decodeCheckEntry, encodeCheckEntry } from "./check-entry.js";
import { createMemoryRegistry } from "./memory-registry.js";
import type { RegistryChange } from "./types.js";

const log = pino({ level: "silent" });
const tcp = (id: string, port = 1) =>
  validateCheck({ id, type: "tcp", intervalMs: 1000, tcp: { host: "127.0.0.1", port } }, { mode: "create" });

describe("memory registry (the contract every registry follows)", () => {
  it("creates at version 1, replaces with +1 keeping createdAt, and deletes", async () => {
    let t = 1000;
    const reg = createMemoryRegistry({ log, now: () => t });
    const created = await reg.create(tcp("db"));
    expect(created.check.version).toBe(1);
    expect(created.createdAt).toBe(1000);
    t = 2000;
    const replaced = await reg.replace(tcp("db", 2));
    expect(replaced.check.version).toBe(2);
    expect(replaced.createdAt).toBe(1000);
    expect(replaced.updatedAt).toBe(2000);
    expect(replaced.revision).toBeGreaterThan(created.revision);
    expect((await reg.get("db"))?.check.tcp?.port).toBe(2);
    await reg.delete("db");
    expect(await reg.get("db")).toBeUndefined();
  });

  it("rejects a duplicate create, and replace/delete of unknown ids", async () => {
    const reg = createMemoryRegistry({ log });
    await reg.create(tcp("db"));
    await expect(reg.create(tcp("db"))).rejects.toBeInstanceOf(ConflictError);
    await expect(reg.replace(tcp("nope"))).rejects.toBeInstanceOf(NotFoundError);
    await expect(reg.delete("nope")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("does not keep a reference to the caller's message", async () => {
    const reg = createMemoryRegistry({ log });
    const check = tcp("db");
    await reg.create(check);
    check.intervalMs = 5;
    expect((await reg.get("db"))?.check.intervalMs).toBe(1000);
  });

  it("watch gives a snapshot and then every change in order with growing versions", async () => {
    const reg = createMemoryRegistry({ log });
    await reg.create(tcp("b"));
    await reg.create(tcp("a"));
    const changes: RegistryChange[] = [];
    const w = reg.watch((c) => changes.push(c));
    expect(w.checks.map((r) => r.check.id)).toEqual(["a", "b"]);
    await reg.replace(tcp("a", 9));
    await reg.delete("b");
    w.stop();
    await reg.create(tcp("c"));
    expect(changes.map((c) => (c.type === "upsert" ? `+${c.record.check.id}` : `-${c.id}`))).toEqual(["+a", "-b"]);
    expect(changes[0]!.version).toBeGreaterThan(w.version);
    expect(changes[1]!.version).toBeGreaterThan(changes[0]!.version);
    expect((await reg.list()).map((r) => r.check.id)).toEqual(["a", "c"]);
  });
});

describe("check cache", () => {
  it("ignores stale revisions", () => {
    const cache = createCheckCache({ log });
    cache.apply(1, "a", { check: tcp("a"), createdAt: 0, updatedAt: 0, revision: 1 });
    cache.apply(2, "b", { check: tcp("b"), createdAt: 0, updatedAt: 0, revision: 2 });
    cache.apply(1, "a", undefined);
    expect(cache.list().map((r) => r.check.id)).toEqual(["a", "b"]);
    expect(cache.revision).toBe(2);
  });

  it("emits no delete for an id it never had, but still advances", () => {
    const cache = createCheckCache({ log });
    const seen: RegistryChange[] = [];
    cache.watch((c) => seen.push(c));
    cache.apply(3, "ghost", undefined);
    expect(seen).toEqual([]);
    expect(cache.revision).toBe(3);
  });

  it("keeps delivering to other watchers when one throws", () => {
    const cache = createCheckCache({ log });
    cache.watch(() => {
      throw new Error("boom");
    });
    const seen: number[] = [];
    cache.watch((c) => seen.push(c.version));
    cache.apply(1, "a", { check: tcp("a"), createdAt: 0, updatedAt: 0, revision: 1 });
    expect(seen).toEqual([1]);
  });
});

describe("KV entries", () => {
  it("maps ids with dots to valid keys and back", () => {
    for (const id of ["a", "a.", "a..b", "x.y-z_1"]) {
      const key = checkKey(id);
      expect(key).toMatch(/^[-/_=a-zA-Z0-9]+$/);
      expect(checkIdFromKey(key)).toBe(id);
    }
    expect(checkIdFromKey("Not_A_Check")).toBeUndefined();
  });

  it("round-trips a record, secrets included (they are needed by agents) but sealed in the stored text", () => {
    const box = createSecretBox(parseKeyRing(generateKeySpec("k1")).ring);
    const check = validateCheck(
      {
        id: "w",
        type: "http",
        http: { url: "http://x/?token=tok-123&plain", headers: { Authorization: "Bearer t" }, body: "pw=hunter2" },
      },
      { mode: "create" },
    );
    check.version = 4;
    const text = encodeCheckEntry({ check, createdAt: 5, updatedAt: 6 }, box);
    expect(text).not.toMatch(/Bearer t|tok-123|hunter2/);
    expect(text).toContain("http://x/?token=pmenc:v1:k1:");
    const back = decodeCheckEntry(text, 42, box);
    expect(back.revision).toBe(42);
    expect(back.stale).toBe(false);
    expect(back.check.version).toBe(4);
    expect(back.check.http?.headers.Authorization).toBe("Bearer t");
    expect(back.check.http?.url).toBe("http://x/?token=tok-123&plain");
    expect(back.check.http?.body).toBe("pw=hunter2");
    expect(() => decodeCheckEntry("{}", 1, box)).toThrow();
    expect(() => decodeCheckEntry("nope", 1, box)).toThrow();
  });

  it("reads a record stored in clear (before encryption) and marks it stale", () => {
    const check = validateCheck({ id: "w", type: "http", http: { url: "http://x/?a=1" } }, { mode: "create" });
    const clear = encodeCheckEntry({ check, createdAt: 5, updatedAt: 6 }, createSecretBox(undefined));
    expect(clear).toContain("?a=1");
    const back = decodeCheckEntry(clear, 1, createSecretBox(parseKeyRing(generateKeySpec("k1")).ring));
    expect(back.stale).toBe(true);
    expect(back.check.http?.url).toBe("http://x/?a=1");
  });
});
