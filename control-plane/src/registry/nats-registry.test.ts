import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { validateCheck } from "../checks/validate-check.js";
import { memoryKv } from "../testing/memory-kv.js";
import { createSecretBox } from "../trust/secret-box.js";
import { checkKey, encodeCheckEntry } from "./check-entry.js";
import { legacyUid } from "./legacy-uid.js";
import { createRegistry, type RegistryBucket } from "./nats-registry.js";

const log = pino({ level: "silent" });
const box = createSecretBox(undefined);
const nc = {} as NatsConnection;

/** A check as stored before uids existed: uid "". */
function storeUidless(b: ReturnType<typeof memoryKv>["b"], id: string, port = 1): number {
  const check = validateCheck(
    { id, type: "tcp", intervalMs: 1000, tcp: { host: "127.0.0.1", port } },
    { mode: "create" },
  );
  check.version = 3;
  expect(check.uid).toBe("");
  return b.append(checkKey(id), "PUT", encodeCheckEntry({ check, createdAt: 1_000, updatedAt: 2_000 }, box));
}

function registry(bucket: RegistryBucket) {
  return createRegistry({ nc, log, secrets: box, kv: bucket, rewatchDelayMs: 5, rewriteRetryMs: 20 });
}

const storedUid = (b: ReturnType<typeof memoryKv>["b"], id: string) =>
  b.value<{ check: { uid?: string; version?: number } }>(checkKey(id))?.check;

describe("legacyUid", () => {
  it("is a UUID (version 8) derived from the id and creation time only", () => {
    const uid = legacyUid("web", 1_000);
    expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(legacyUid("web", 1_000)).toBe(uid);
    expect(legacyUid("web", 1_001)).not.toBe(uid);
    expect(legacyUid("web2", 1_000)).not.toBe(uid);
  });
});

describe("NATS registry: checks stored without a uid (from before uids)", () => {
  it("serves such a check with its derived uid from the first load and writes it back, same version", async () => {
    const { b, bucket } = memoryKv();
    storeUidless(b, "web");
    const reg = registry(bucket);
    await reg.start();
    try {
      const uid = legacyUid("web", 1_000);
      const served = await reg.get("web");
      expect(served?.check.uid).toBe(uid);
      expect(served?.check.version).toBe(3);
      expect(served?.updatedAt).toBe(2_000);
      expect(reg.watch(() => undefined).checks.map((r) => r.check.uid)).toEqual([uid]);
      expect(storedUid(b, "web")).toMatchObject({ uid, version: 3 });
      expect(reg.stats()).toMatchObject({ uidless: 0, uidsWritten: 1 });
      // Served at the revision of the write-back.
      expect(served?.revision).toBe(b.lastRevision());
    } finally {
      await reg.stop();
    }
  });

  it("two replicas loading at once agree on one uid, and only one compare-and-set lands", async () => {
    const { b, bucket } = memoryKv();
    const original = storeUidless(b, "web");
    const r1 = registry(bucket);
    const r2 = registry(bucket);
    await Promise.all([r1.start(), r2.start()]);
    try {
      const uid = legacyUid("web", 1_000);
      expect((await r1.get("web"))?.check.uid).toBe(uid);
      expect((await r2.get("web"))?.check.uid).toBe(uid);
      // The loser's write was refused (not a second write): the original and one write-back.
      expect(b.history().map((e) => e.revision)).toEqual([original, original + 1]);
      expect(r1.stats().uidsWritten + r2.stats().uidsWritten).toBe(1);
      expect(storedUid(b, "web")?.uid).toBe(uid);
      expect([r1.stats().uidless, r2.stats().uidless]).toEqual([0, 0]);
    } finally {
      await r1.stop();
      await r2.stop();
    }
  });

  it("gives the same uid back to a check an older replica writes again without one (rolling upgrade)", async () => {
    const { b, bucket } = memoryKv();
    const reg = registry(bucket);
    await reg.start();
    try {
      const changes: string[] = [];
      reg.watch((c) => changes.push(c.type === "upsert" ? `${c.record.check.id}:${c.record.check.uid}` : c.id));
      storeUidless(b, "web", 2);
      const uid = legacyUid("web", 1_000);
      await vi.waitFor(() => expect(storedUid(b, "web")?.uid).toBe(uid));
      await vi.waitFor(() => expect(reg.stats().uidless).toBe(0));
      // Never seen without its uid, neither before nor after the write-back.
      expect(changes).toEqual([`web:${uid}`, `web:${uid}`]);
      expect((await reg.get("web"))?.check.tcp?.port).toBe(2);
    } finally {
      await reg.stop();
    }
  });

  it("keeps the served uid when such a check is replaced before it was written back", async () => {
    const { b, bucket } = memoryKv();
    storeUidless(b, "web");
    const reg = registry(bucket);
    // Nothing written back yet: the bucket refuses every write until the replace below.
    const update = bucket.update.bind(bucket);
    let refuse = true;
    bucket.update = (async (...args: Parameters<typeof update>) => {
      if (refuse) throw new Error("no responders");
      return await update(...args);
    }) as typeof update;
    await reg.start();
    try {
      const uid = legacyUid("web", 1_000);
      expect(storedUid(b, "web")?.uid ?? "").toBe("");
      expect(reg.stats().uidless).toBe(1);
      refuse = false;
      // As the API does it: validated against the served check, the client sending back the uid it saw.
      const edited = validateCheck(
        { uid, type: "tcp", intervalMs: 1000, tcp: { host: "127.0.0.1", port: 9 } },
        { mode: "replace", id: "web", existing: (await reg.get("web"))?.check },
      );
      const replaced = await reg.replace(edited);
      expect(replaced.check.uid).toBe(uid);
      expect(replaced.check.version).toBe(4);
      expect(storedUid(b, "web")).toMatchObject({ uid, version: 4 });
    } finally {
      await reg.stop();
    }
  });
});
