import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { CheckSchema } from "@probemesh/proto";
import type { CheckRecord } from "../checks/check-record.js";
import { CHECK_ID_PATTERN } from "../checks/rules.js";

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

/** Serialises a record as the KV value: `{ check: <proto3 JSON>, createdAt, updatedAt }`. */
export function encodeCheckEntry(record: Omit<CheckRecord, "revision">): string {
  const stored: StoredCheck = {
    check: toJson(CheckSchema, record.check),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
  return JSON.stringify(stored);
}

/** Parses a KV value; throws on anything malformed. Unknown check fields (from newer replicas) are ignored. */
export function decodeCheckEntry(text: string, revision: number): CheckRecord {
  const stored = JSON.parse(text) as Partial<StoredCheck> | null;
  if (typeof stored !== "object" || stored === null || stored.check === undefined) {
    throw new Error("stored check entry has no check");
  }
  if (typeof stored.createdAt !== "number" || typeof stored.updatedAt !== "number") {
    throw new Error("stored check entry has no timestamps");
  }
  const check = fromJson(CheckSchema, stored.check, { ignoreUnknownFields: true });
  return { check, createdAt: stored.createdAt, updatedAt: stored.updatedAt, revision };
}
