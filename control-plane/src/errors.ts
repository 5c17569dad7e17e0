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

/** A dependency (NATS, ClickHouse) is unavailable. Maps to HTTP 503. */
export class UnavailableError extends ProbemeshError {
  override name = "UnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, undefined, options);
  }
}
