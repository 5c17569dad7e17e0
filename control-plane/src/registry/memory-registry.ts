import { randomUUID } from "node:crypto";
import { clone } from "@bufbuild/protobuf";
import { CheckSchema, type Check } from "@probemesh/proto";
import type { Logger } from "pino";
import type { CheckRecord } from "../checks/check-record.js";
import { assertSameIdentity } from "../checks/validate-check.js";
import { assertRevision, ConflictError, NotFoundError } from "../errors.js";
import { createCheckCache } from "./check-cache.js";
import { withUid, type CheckRegistry } from "./types.js";

/**
 * A registry held in process memory, with the same semantics as the NATS one (versions, revisions,
 * conflicts, watch). For unit tests and single-process experiments; nothing survives a restart.
 */
export function createMemoryRegistry({
  log,
  now = Date.now,
  newUid = randomUUID,
}: {
  log: Logger;
  now?: () => number;
  /** Generates the uid of a created check. @default crypto.randomUUID */
  newUid?: () => string;
}): CheckRegistry {
  const cache = createCheckCache({ log });
  let revision = 0;

  function store(check: Check, version: number, createdAt: number): CheckRecord {
    const copy = clone(CheckSchema, check);
    copy.version = version;
    const record = { check: copy, createdAt, updatedAt: now(), revision: ++revision };
    cache.apply(record.revision, copy.id, record);
    return record;
  }

  return {
    async create(check) {
      if (cache.get(check.id))
        throw new ConflictError(`check ${JSON.stringify(check.id)} already exists`, { id: check.id });
      return store(withUid(check, newUid()), 1, now());
    },
    async replace(check, cond) {
      const previous = cache.get(check.id);
      if (!previous) throw new NotFoundError("check", check.id);
      assertRevision("check", check.id, previous.revision, cond);
      assertSameIdentity(previous.check, check);
      return store(withUid(check, previous.check.uid), previous.check.version + 1, previous.createdAt);
    },
    async delete(id, cond) {
      const previous = cache.get(id);
      if (!previous) throw new NotFoundError("check", id);
      assertRevision("check", id, previous.revision, cond);
      cache.apply(++revision, id, undefined);
    },
    get: async (id) => cache.get(id),
    list: async () => cache.list(),
    watch: (listener) => cache.watch(listener),
    ready: () => true,
  };
}
