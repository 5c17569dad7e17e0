/**
 * Agent enrollment: which agents may run checks and vote, and for which region. An operator
 * enrolls an agent (POST /v1/agents) and receives its token once; only a hash is stored. Every
 * part that trusts an agent (gRPC, credential issuing, ingest, consensus) asks this, never what the
 * agent says about itself.
 */

/** An enrolled agent as stored and listed (never holds the token). */
export interface EnrolledAgent {
  id: string;
  region: string;
  provider: string;
  /** ISO 8601 time of enrollment. */
  createdAt: string;
  /** ISO 8601 time of revocation; a revoked agent is refused everywhere. */
  revokedAt?: string;
}

/** The outcome of an enrollment: the token is returned here once and never again. */
export interface Enrollment {
  agent: EnrolledAgent;
  token: string;
}

/**
 * Enrolled agents, shared by every replica. Reads are synchronous from an in-memory copy (they sit
 * on the ingest hot path); writes go through to the store and resolve once the copy has them.
 */
export interface Enrollments {
  /** Enrolls a new agent; ConflictError when the id is already enrolled (revoked ids included). */
  enroll(agent: { id: string; region: string; provider: string }): Promise<Enrollment>;
  /** Revokes an agent; false when no such agent. Revocation is permanent for that id. */
  revoke(id: string): Promise<boolean>;
  /** The agent with this id (revoked ones included, with `revokedAt`). */
  get(id: string): EnrolledAgent | undefined;
  /** Every enrolled agent, sorted by id. */
  list(): EnrolledAgent[];
  /** The active (not revoked) agent this bearer token belongs to, or undefined. Constant-time compare. */
  authenticate(token: string): EnrolledAgent | undefined;
  /** True when `id` is enrolled, not revoked, and enrolled for `region`. */
  mayVote(id: string, region: string): boolean;
  /** Regions of active agents. */
  regions(): ReadonlySet<string>;
  /** Called after an agent is revoked (on any replica); returns the unsubscribe function. */
  onRevoked(listener: (agent: EnrolledAgent) => void): () => void;
}
