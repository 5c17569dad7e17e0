/** Base error of the control plane: a stable machine `code`, a message, optional details and cause. */
export class ProbemeshError extends Error {
  override name = "ProbemeshError";
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Wraps anything thrown into a ProbemeshError (code "internal" unless it already is one). */
  static from(err: unknown): ProbemeshError {
    if (err instanceof ProbemeshError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new ProbemeshError("internal", message, undefined, { cause: err });
  }
}

/** Bad input; `details.field` names the offending field. Maps to HTTP 400. */
export class ValidationError extends ProbemeshError {
  override name = "ValidationError";
  constructor(message: string, details?: { field?: string; problems?: { field: string; message: string }[] }) {
    super("invalid_argument", message, details);
  }
}

/** Unknown id. Maps to HTTP 404. */
export class NotFoundError extends ProbemeshError {
  override name = "NotFoundError";
  constructor(kind: string, id: string) {
    super("not_found", `${kind} ${JSON.stringify(id)} not found`, { kind, id });
  }
}

/** Missing or wrong credentials. Maps to HTTP 401 / gRPC UNAUTHENTICATED. */
export class UnauthorizedError extends ProbemeshError {
  override name = "UnauthorizedError";
  constructor(message = "missing or invalid bearer token") {
    super("unauthenticated", message);
  }
}

/** Valid credentials without the needed permission. Maps to HTTP 403 / gRPC PERMISSION_DENIED. */
export class ForbiddenError extends ProbemeshError {
  override name = "ForbiddenError";
  constructor(message: string, details?: Record<string, unknown>) {
    super("permission_denied", message, details);
  }
}

/** Write conflicts with the current state (e.g. id already exists). Maps to HTTP 409. */
export class ConflictError extends ProbemeshError {
  override name = "ConflictError";
  constructor(message: string, details?: Record<string, unknown>) {
    super("conflict", message, details);
  }
}

/**
 * A conditional write (`If-Match`) whose version is no longer the stored one: someone changed the
 * object since it was read. Maps to HTTP 412; `details.etag` is the current version.
 */
export class PreconditionFailedError extends ProbemeshError {
  override name = "PreconditionFailedError";
  constructor(kind: string, id: string, current: number | undefined) {
    super(
      "failed_precondition",
      `${kind} ${JSON.stringify(id)} changed since it was read (If-Match does not name its current version` +
        `${current !== undefined ? ` "${current}"` : ""}): read it again and retry`,
      { kind, id, ...(current !== undefined ? { etag: `"${current}"` } : {}) },
    );
  }
}

/** Only these revisions of an object may be changed (from `If-Match`); absent = any. */
export interface WriteCondition {
  /** The KV revision (ETag) the writer read; a write of any other version fails with {@link PreconditionFailedError}. */
  ifRevision?: number;
}

/** Throws {@link PreconditionFailedError} when `revision` is not the one `cond` names. */
export function assertRevision(kind: string, id: string, revision: number, cond: WriteCondition | undefined): void {
  if (cond?.ifRevision !== undefined && cond.ifRevision !== revision)
    throw new PreconditionFailedError(kind, id, revision);
}

/** A dependency (NATS, ClickHouse) is unavailable. Maps to HTTP 503. */
export class UnavailableError extends ProbemeshError {
  override name = "UnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, undefined, options);
  }
}
