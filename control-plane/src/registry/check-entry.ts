import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { CheckSchema } from "@probemesh/proto";
import type { CheckRecord } from "../checks/check-record.js";
import { CHECK_ID_PATTERN } from "../checks/rules.js";
import { openCheck, sealCheck } from "../trust/check-secrets.js";
import type { SecretBox } from "../trust/secret-box.js";

/** NATS KV bucket holding the checks. */
export const CHECKS_BUCKET = "probemesh_checks";

// Check ids may hold dots, which KV keys treat as token separators ("a." or "a..b" would be invalid
// keys); "=" is a legal key character that ids never contain, so the mapping is reversible.
/** The KV key of a check id. */
export function checkKey(id: string): string {
  return id.replaceAll(".", "=");
}

/** The check id of a KV key, or undefined when the key is not one this registry wrote. */
export function checkIdFromKey(key: string): string | undefined {
  const id = key.replaceAll("=", ".");
  return CHECK_ID_PATTERN.test(id) ? id : undefined;
}

interface StoredCheck {
  check: JsonValue;
  createdAt: number;
  updatedAt: number;
}

/**
 * Serialises a record as the KV value: `{ check: <proto3 JSON>, createdAt, updatedAt }`, its secrets
 * sealed by `box` (the only place a check is written, so KV never holds them in clear).
 */
export function encodeCheckEntry(record: Omit<CheckRecord, "revision">, box: SecretBox): string {
  const stored: StoredCheck = {
    check: toJson(CheckSchema, sealCheck(record.check, box)),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
  return JSON.stringify(stored);
}

/**
 * Parses a KV value and opens its secrets; throws on anything malformed or unreadable (SecretBoxError).
 * Unknown check fields (from newer replicas) are ignored. `stale`: a secret is in clear or under an
 * older key, so the entry should be written again.
 */
export function decodeCheckEntry(text: string, revision: number, box: SecretBox): CheckRecord & { stale: boolean } {
  const stored = JSON.parse(text) as Partial<StoredCheck> | null;
  if (typeof stored !== "object" || stored === null || stored.check === undefined) {
    throw new Error("stored check entry has no check");
  }
  if (typeof stored.createdAt !== "number" || typeof stored.updatedAt !== "number") {
    throw new Error("stored check entry has no timestamps");
  }
  const { check, stale } = openCheck(fromJson(CheckSchema, stored.check, { ignoreUnknownFields: true }), box);
  return { check, createdAt: stored.createdAt, updatedAt: stored.updatedAt, revision, stale };
}
