import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ConflictError } from "../errors.js";
import type { EnrolledAgent, Enrollment, Enrollments } from "./enrollment.js";

/** Options of {@link createMemoryEnrollments}. */
export interface MemoryEnrollmentsOptions {
  /** Clock for `createdAt` / `revokedAt`. @default Date.now */
  now?: () => number;
}

interface Entry {
  agent: EnrolledAgent;
  tokenHash: Buffer;
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text).digest();

/**
 * Enrollments held in process memory, for unit tests and single-process experiments; the control
 * plane shares them through NATS KV. Same token format and hashing as the shared store.
 */
export function createMemoryEnrollments(opts: MemoryEnrollmentsOptions = {}): Enrollments {
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const listeners = new Set<(agent: EnrolledAgent) => void>();

  return {
    async enroll({ id, region, provider }): Promise<Enrollment> {
      if (entries.has(id)) throw new ConflictError(`agent ${JSON.stringify(id)} is already enrolled`, { id });
      const token = `pma_${randomBytes(32).toString("base64url")}`;
      const agent: EnrolledAgent = { id, region, provider, createdAt: new Date(now()).toISOString() };
      entries.set(id, { agent, tokenHash: sha256(token) });
      return { agent: { ...agent }, token };
    },

    async revoke(id) {
      const entry = entries.get(id);
      if (!entry) return false;
      if (entry.agent.revokedAt === undefined) {
        entry.agent = { ...entry.agent, revokedAt: new Date(now()).toISOString() };
        for (const listener of [...listeners]) listener({ ...entry.agent });
      }
      return true;
    },

    get(id) {
      const entry = entries.get(id);
      return entry ? { ...entry.agent } : undefined;
    },

    list() {
      return [...entries.values()]
        .map((e) => ({ ...e.agent }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    authenticate(token) {
      const hash = sha256(token);
      let found: EnrolledAgent | undefined;
      // Every entry is compared, so the time taken says nothing about which one matched.
      for (const entry of entries.values())
        if (timingSafeEqual(hash, entry.tokenHash) && entry.agent.revokedAt === undefined) found = entry.agent;
      return found ? { ...found } : undefined;
    },

    mayVote(id, region) {
      const agent = entries.get(id)?.agent;
      return agent !== undefined && agent.revokedAt === undefined && agent.region === region;
    },

    regions() {
      const regions = new Set<string>();
      for (const { agent } of entries.values()) if (agent.revokedAt === undefined) regions.add(agent.region);
      return regions;
    },

    onRevoked(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
