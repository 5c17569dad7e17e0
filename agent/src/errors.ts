// Errors the agent's modules throw to each other and to main.ts: one base with a stable `code`
// (like the control plane's errors.ts), subclasses that set `name`. Probe failures are not errors:
// probers return classified outcomes and never reject.

/** Base error of the agent: a stable machine `code`, a message and an optional `cause`. */
export class AgentError extends Error {
  override name = "AgentError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Wraps anything thrown into an AgentError (code "internal" unless it already is one). */
  static from(err: unknown): AgentError {
    if (err instanceof AgentError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new AgentError("internal", message, { cause: err });
  }
}

/** Thrown by `loadConfig` with every problem found, one per line. */
export class ConfigError extends AgentError {
  override name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super("invalid_config", `invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** Thrown when another live agent process holds the state dir. */
export class StateDirLockedError extends AgentError {
  override name = "StateDirLockedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("state_dir_locked", message, options);
  }
}

/** Thrown when the stored sequence high-water mark cannot be read; continuing could reuse numbers. */
export class SeqStateError extends AgentError {
  override name = "SeqStateError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("seq_state_corrupt", message, options);
  }
}

/** Thrown by an outbox used after `close()`. */
export class OutboxClosedError extends AgentError {
  override name = "OutboxClosedError";
  constructor() {
    super("outbox_closed", "outbox is closed");
  }
}

/** A dependency (NATS) is not reachable now; the caller keeps the work for later. */
export class UnavailableError extends AgentError {
  override name = "UnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
  }
}

/** An agent asked for what only a started agent has (its stats). */
export class NotRunningError extends AgentError {
  override name = "NotRunningError";
  constructor() {
    super("not_running", "agent is not running");
  }
}
