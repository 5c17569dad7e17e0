import { describe, expect, it } from "vitest";
import {
  createSecretBox,
  ENVELOPE_PREFIX,
  generateKeySpec,
  isSealed,
  parseKeyRing,
  SecretBoxError,
} from "./secret-box.js";

const ring = (spec: string) => {
  const { ring: r, problems } = parseKeyRing(spec);
  expect(problems).toEqual([]);
  return r;
};
const k1 = generateKeySpec("k1");
const k2 = generateKeySpec("k2");

describe("secret box", () => {
  it("round-trips a value through an envelope naming the key, never holding the clear text", () => {
    const box = createSecretBox(ring(k1));
    const sealed = box.seal("whsec_top-secret ünïcode", "hook:h:secret");
    expect(sealed.startsWith(`${ENVELOPE_PREFIX}k1:`)).toBe(true);
    expect(sealed).not.toContain("top-secret");
    expect(isSealed(sealed)).toBe(true);
    expect(box.open(sealed, "hook:h:secret")).toBe("whsec_top-secret ünïcode");
    // A fresh IV every time: equal values do not give equal envelopes.
    expect(box.seal("same", "a")).not.toBe(box.seal("same", "a"));
    // base64url: the envelope fits in a URL query value unescaped.
    expect(sealed.slice(ENVELOPE_PREFIX.length)).toMatch(/^k1:[A-Za-z0-9_-]+$/);
  });

  it("refuses an envelope under a key id the ring does not hold, naming the id", () => {
    const sealed = createSecretBox(ring(k2)).seal("v", "f");
    expect(() => createSecretBox(ring(k1)).open(sealed, "f")).toThrow(SecretBoxError);
    expect(() => createSecretBox(ring(k1)).open(sealed, "f")).toThrow(/key "k2".*does not hold/);
    expect(() => createSecretBox(undefined).open(sealed, "f")).toThrow(/PROBEMESH_SECRET_KEY is not set/);
  });

  it("refuses tampered ciphertext, a truncated envelope and other key bytes under the same id", () => {
    const box = createSecretBox(ring(k1));
    const sealed = box.seal("routing-key-123", "hook:p:pagerduty.routingKey");
    const blob = Buffer.from(sealed.slice(`${ENVELOPE_PREFIX}k1:`.length), "base64url");
    blob[14] = (blob[14] ?? 0) ^ 1;
    const tampered = `${ENVELOPE_PREFIX}k1:${blob.toString("base64url")}`;
    expect(() => box.open(tampered, "hook:p:pagerduty.routingKey")).toThrow(/does not authenticate/);
    expect(() => box.open(`${ENVELOPE_PREFIX}k1:AAAA`, "x")).toThrow(/truncated/);
    expect(() => box.open(`${ENVELOPE_PREFIX}nokeyid`, "x")).toThrow(/malformed/);
    const impostor = createSecretBox(ring(generateKeySpec("k1")));
    expect(() => impostor.open(sealed, "hook:p:pagerduty.routingKey")).toThrow(SecretBoxError);
  });

  it("binds a value to its field path: moved to another field or record, it does not open", () => {
    const box = createSecretBox(ring(k1));
    const sealed = box.seal("api-key", "hook:a:powerdns.apiKey");
    expect(() => box.open(sealed, "hook:b:powerdns.apiKey")).toThrow(/does not authenticate/);
    expect(() => box.open(sealed, "hook:a:secret")).toThrow(SecretBoxError);
  });

  it("rotates: the first key seals, older keys still open, and values under them are stale", () => {
    const old = createSecretBox(ring(k1));
    const underOld = old.seal("v1", "f");
    const rotated = createSecretBox(ring(`${k2},${k1}`));
    expect(rotated.currentKeyId).toBe("k2");
    expect(rotated.open(underOld, "f")).toBe("v1");
    expect(rotated.isStale(underOld)).toBe(true);
    const resealed = rotated.seal(rotated.open(underOld, "f"), "f");
    expect(resealed.startsWith(`${ENVELOPE_PREFIX}k2:`)).toBe(true);
    expect(rotated.isStale(resealed)).toBe(false);
    // Once rewritten, the old key can go.
    expect(createSecretBox(ring(k2)).open(resealed, "f")).toBe("v1");
  });

  it("reads values stored in clear (before encryption) as they are, and marks them stale", () => {
    const box = createSecretBox(ring(k1));
    expect(box.open("legacy-clear", "f")).toBe("legacy-clear");
    expect(box.isStale("legacy-clear")).toBe(true);
    expect(box.isStale("")).toBe(false);
    expect(box.seal("", "f")).toBe("");
  });

  it("stores in clear without a key ring (insecure mode)", () => {
    const box = createSecretBox(undefined);
    expect(box.sealing).toBe(false);
    expect(box.seal("v", "f")).toBe("v");
    expect(box.open("v", "f")).toBe("v");
    expect(box.isStale("v")).toBe(false);
  });
});

describe("parseKeyRing", () => {
  it("accepts several keys, standard or url-safe base64", () => {
    const b64 = Buffer.alloc(32, 0xfb).toString("base64");
    const url = Buffer.alloc(32, 0xfb).toString("base64url");
    const r = ring(`a:${b64},b_2:${url}`);
    expect(r?.keys.map((k) => k.id)).toEqual(["a", "b_2"]);
    expect(r?.keys[1]?.key.equals(Buffer.alloc(32, 0xfb))).toBe(true);
  });

  it("lists every problem and never echoes key bytes", () => {
    const long = Buffer.alloc(48, 3).toString("base64");
    const { ring: r, problems } = parseKeyRing(`x:${long},x:${long},${"i".repeat(33)}:${long}`);
    expect(r).toBeUndefined();
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/48 bytes; AES-256 needs 32/);
    expect(JSON.stringify(problems)).not.toContain(long);
    expect(parseKeyRing(" , ").problems).toEqual(["must hold at least one <keyId>:<base64 of 32 bytes>"]);
  });
});
