import { createHash } from "node:crypto";
import type { CheckRecord } from "../checks/check-record.js";
import { withUid } from "./types.js";

/**
 * The uid given to a check stored before uids existed (stored uid ""): a UUID (version 8, the
 * "custom" layout) derived from the check's id and creation time, both immutable across replaces.
 * Derived, not random, so every replica gives a stored uid-less check the same uid at once, before
 * any of them has written it back, and an old replica that writes the check again without a uid
 * (a rolling upgrade) brings the same uid back.
 */
export function legacyUid(id: string, createdAt: number): string {
  const h = createHash("sha256").update(`probemesh.legacy-uid\0${id}\0${createdAt}`).digest("hex");
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** `record` with its {@link legacyUid} when it has no uid (`migrated`), else unchanged. */
export function withLegacyUid<R extends CheckRecord>(record: R): { record: R; migrated: boolean } {
  if (record.check.uid !== "") return { record, migrated: false };
  return {
    record: { ...record, check: withUid(record.check, legacyUid(record.check.id, record.createdAt)) },
    migrated: true,
  };
}
