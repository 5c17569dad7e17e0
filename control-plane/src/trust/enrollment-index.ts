import type { EnrolledAgent } from "./enrollment.js";

/** An enrollment as stored (KV value): the agent plus the SHA-256 hex of its token. */
export interface EnrollmentRecord extends EnrolledAgent {
  tokenHash: string;
}

/** Reads a stored enrollment; throws when it is malformed. */
export function decodeEnrollment(text: string): EnrollmentRecord {
  const r = JSON.parse(text) as Partial<EnrollmentRecord> | null;
  if (
    typeof r !== "object" ||
    r === null ||
    typeof r.id !== "string" ||
    typeof r.region !== "string" ||
    typeof r.provider !== "string" ||
    typeof r.createdAt !== "string" ||
    typeof r.tokenHash !== "string" ||
    !/^[0-9a-f]{64}$/.test(r.tokenHash) ||
    (r.revokedAt !== undefined && typeof r.revokedAt !== "string")
  )
    throw new Error("stored enrollment is malformed");
  return {
    id: r.id,
    region: r.region,
    provider: r.provider,
    createdAt: r.createdAt,
    ...(r.revokedAt !== undefined ? { revokedAt: r.revokedAt } : {}),
    tokenHash: r.tokenHash,
  };
}

/** The public view of a record (never the hash). */
export function enrolledAgent(r: EnrollmentRecord): EnrolledAgent {
  return {
    id: r.id,
    region: r.region,
    provider: r.provider,
    createdAt: r.createdAt,
    ...(r.revokedAt !== undefined ? { revokedAt: r.revokedAt } : {}),
  };
}

/**
 * The in-memory copy of the enrollments both implementations read from: by id, by token hash, the
 * active regions, and the revocation listeners. Fed record by record (from a KV watch or directly).
 */
export interface EnrollmentIndex {
  /** Stores or replaces a record; a record that becomes revoked (or disappears) notifies the listeners. */
  put(record: EnrollmentRecord): void;
  remove(id: string): void;
  record(id: string): EnrollmentRecord | undefined;
  get(id: string): EnrolledAgent | undefined;
  list(): EnrolledAgent[];
  authenticate(token: string): EnrolledAgent | undefined;
  mayVote(id: string, region: string): boolean;
  regions(): ReadonlySet<string>;
  onRevoked(listener: (agent: EnrolledAgent) => void): () => void;
}

/** Options of {@link createEnrollmentIndex}. */
export interface EnrollmentIndexOptions {
  /** Hashes a presented token the way stored hashes were made. */
  hash: (token: string) => string;
  /** Called when a revocation listener throws. @default ignores it */
  onListenerError?: (err: unknown, agent: EnrolledAgent) => void;
}

/** A new, empty {@link EnrollmentIndex}. */
export function createEnrollmentIndex(opts: EnrollmentIndexOptions): EnrollmentIndex {
  const byId = new Map<string, EnrollmentRecord>();
  // Only active agents: a revoked token stops resolving the moment its record says so.
  const byHash = new Map<string, EnrollmentRecord>();
  const listeners = new Set<(agent: EnrolledAgent) => void>();
  let regions: ReadonlySet<string> = new Set();

  function recomputeRegions(): void {
    regions = new Set([...byHash.values()].map((r) => r.region));
  }
  function notify(r: EnrollmentRecord): void {
    const agent = enrolledAgent(r);
    for (const l of [...listeners]) {
      try {
        l(agent);
      } catch (err) {
        opts.onListenerError?.(err, agent);
      }
    }
  }
  function drop(id: string): EnrollmentRecord | undefined {
    const old = byId.get(id);
    if (!old) return undefined;
    byId.delete(id);
    if (byHash.get(old.tokenHash) === old) byHash.delete(old.tokenHash);
    return old;
  }

  return {
    put(record) {
      const old = drop(record.id);
      byId.set(record.id, record);
      if (record.revokedAt === undefined) byHash.set(record.tokenHash, record);
      recomputeRegions();
      if (record.revokedAt !== undefined && old?.revokedAt === undefined) notify(record);
    },
    remove(id) {
      const old = drop(id);
      recomputeRegions();
      // A record deleted from the store behind our back is as good as revoked.
      if (old && old.revokedAt === undefined) notify({ ...old, revokedAt: new Date().toISOString() });
    },
    record: (id) => byId.get(id),
    get(id) {
      const r = byId.get(id);
      return r && enrolledAgent(r);
    },
    list: () => [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(enrolledAgent),
    authenticate(token) {
      if (token === "") return undefined;
      // The lookup is on a hash of the presented token: its timing says nothing about stored tokens.
      const r = byHash.get(opts.hash(token));
      return r && enrolledAgent(r);
    },
    mayVote(id, region) {
      const r = byId.get(id);
      return r !== undefined && r.revokedAt === undefined && r.region === region;
    },
    regions: () => regions,
    onRevoked(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
