/**
 * Secrets at rest: AES-256-GCM envelopes with a key id, so keys can be rotated. A value is sealed
 * into `pmenc:v1:<keyId>:<base64url(iv 12 bytes | ciphertext | tag 16 bytes)>`; the additional
 * authenticated data is the value's field path (e.g. `hook:web:secret`), so an envelope copied to
 * another field or another record does not open. The first key of the ring seals; every key opens.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ProbemeshError } from "../errors.js";

/** Prefix of every sealed value. */
export const ENVELOPE_PREFIX = "pmenc:v1:";

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** One AES-256 key and its id. */
export interface SecretKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** Keys from PROBEMESH_SECRET_KEY: the first seals, all open. Never logged. */
export interface KeyRing {
  readonly keys: readonly SecretKey[];
}

/** A sealed value that cannot be opened: unknown key id, wrong key, tampered bytes or wrong field path. */
export class SecretBoxError extends ProbemeshError {
  override name = "SecretBoxError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("secret_unreadable", message, undefined, options);
  }
}

/**
 * Parses `<keyId>:<base64 of 32 bytes>[,<keyId>:<base64>...]`. Returns the problems instead of
 * throwing so that the configuration can list them with the others; messages never echo key bytes.
 */
export function parseKeyRing(value: string): { ring?: KeyRing; problems: string[] } {
  const problems: string[] = [];
  const keys: SecretKey[] = [];
  const parts = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (parts.length === 0) problems.push("must hold at least one <keyId>:<base64 of 32 bytes>");
  parts.forEach((part, i) => {
    const colon = part.indexOf(":");
    const where = `key ${i + 1}`;
    if (colon === -1) {
      problems.push(`${where} is not <keyId>:<base64 of 32 bytes>`);
      return;
    }
    const id = part.slice(0, colon);
    const b64 = part.slice(colon + 1);
    if (!KEY_ID_PATTERN.test(id)) {
      problems.push(`${where}: the key id must be 1 to 32 letters, digits, "_" or "-"`);
      return;
    }
    if (keys.some((k) => k.id === id)) {
      problems.push(`${where}: key id ${JSON.stringify(id)} appears twice`);
      return;
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) {
      problems.push(`key ${JSON.stringify(id)} is not base64`);
      return;
    }
    const key = Buffer.from(b64, "base64");
    if (key.length !== KEY_BYTES) {
      problems.push(
        `key ${JSON.stringify(id)} is ${key.length} bytes; AES-256 needs ${KEY_BYTES} (e.g. openssl rand -base64 32)`,
      );
      return;
    }
    keys.push({ id, key });
  });
  return problems.length > 0 ? { problems } : { ring: { keys }, problems };
}

/** A new random key ring entry as PROBEMESH_SECRET_KEY writes it: `<keyId>:<base64>`. */
export function generateKeySpec(id: string): string {
  if (!KEY_ID_PATTERN.test(id)) throw new Error(`key id ${JSON.stringify(id)} is not 1 to 32 letters, digits, _ or -`);
  return `${id}:${randomBytes(KEY_BYTES).toString("base64")}`;
}

/** Seals and opens secret values; without a key ring (insecure mode) values stay in clear. */
export interface SecretBox {
  /** True when values are sealed (a key ring is configured). */
  readonly sealing: boolean;
  /** Id of the key that seals, or undefined in insecure mode. */
  readonly currentKeyId: string | undefined;
  /** `plain` sealed for `aad` (the field path); `plain` itself in insecure mode or when empty. */
  seal(plain: string, aad: string): string;
  /**
   * The clear value of a stored `value`: an envelope is opened (SecretBoxError when it cannot be),
   * anything else is a value stored in clear (insecure mode, or written before encryption).
   */
  open(value: string, aad: string): string;
  /** True when a stored `value` should be written again: in clear while sealing, or under an older key. */
  isStale(value: string): boolean;
}

/** True when `value` is a sealed envelope. */
export function isSealed(value: string): boolean {
  return value.startsWith(ENVELOPE_PREFIX);
}

/** A {@link SecretBox} on `ring`; undefined = insecure mode (values stored in clear). */
export function createSecretBox(ring: KeyRing | undefined): SecretBox {
  const current = ring?.keys[0];
  const byId = new Map((ring?.keys ?? []).map((k) => [k.id, k.key]));
  return {
    sealing: current !== undefined,
    currentKeyId: current?.id,
    seal(plain, aad) {
      if (!current || plain === "") return plain;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", current.key, iv);
      cipher.setAAD(Buffer.from(aad, "utf8"));
      const ct = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      const blob = Buffer.concat([iv, ct, cipher.getAuthTag()]).toString("base64url");
      return `${ENVELOPE_PREFIX}${current.id}:${blob}`;
    },
    open(value, aad) {
      if (!isSealed(value)) return value;
      const rest = value.slice(ENVELOPE_PREFIX.length);
      const colon = rest.indexOf(":");
      const keyId = colon === -1 ? "" : rest.slice(0, colon);
      if (colon === -1 || !KEY_ID_PATTERN.test(keyId)) throw new SecretBoxError(`${aad}: malformed sealed value`);
      const key = byId.get(keyId);
      if (!key) {
        throw new SecretBoxError(
          current
            ? `${aad}: sealed with key ${JSON.stringify(keyId)}, which PROBEMESH_SECRET_KEY does not hold`
            : `${aad}: sealed with key ${JSON.stringify(keyId)}, but PROBEMESH_SECRET_KEY is not set`,
        );
      }
      const blob = Buffer.from(rest.slice(colon + 1), "base64url");
      if (blob.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError(`${aad}: sealed value is truncated`);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, blob.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(aad, "utf8"));
        decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
        const plain = Buffer.concat([
          decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return plain.toString("utf8");
      } catch (err) {
        // GCM says only "unable to authenticate": wrong key bytes, changed bytes or another field's value.
        throw new SecretBoxError(`${aad}: sealed value does not authenticate with key ${JSON.stringify(keyId)}`, {
          cause: err,
        });
      }
    },
    isStale(value) {
      if (!current) return false;
      if (value === "") return false;
      if (!isSealed(value)) return true;
      return !value.startsWith(`${ENVELOPE_PREFIX}${current.id}:`);
    },
  };
}
