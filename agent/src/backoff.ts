/**
 * How a delay is drawn below its bound: `"full"` uniformly in [0, bound) (spreads a fleet the most),
 * `"equal"` uniformly in [bound/2, bound] (spread, but never much shorter than the bound), `"none"`
 * exactly the bound.
 */
export type Jitter = "full" | "equal" | "none";

/** Options of a capped exponential backoff; the bound of the n-th delay is min(maxMs, initialMs * multiplier^(n-1)). */
export interface BackoffOptions {
  /** Bound of the first delay. @default 250 */
  initialMs?: number;
  /** Cap of the bound. @default 15000 */
  maxMs?: number;
  /** Growth of the bound per attempt. @default 2 */
  multiplier?: number;
  /** How each delay is drawn below its bound. @default "full" */
  jitter?: Jitter;
  /** Random source in [0, 1); inject one to make delays deterministic. @default Math.random */
  random?: () => number;
}

/** A backoff policy: the options resolved, and the delay after any number of consecutive failures. */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  readonly jitter: Jitter;
  /** The delay after the `attempt`-th consecutive failure (1-based; below 1 counts as 1), in whole ms. */
  delay(attempt: number): number;
}

/** Delays for successive retries, counting failures since the last success. */
export interface Backoff {
  /** The delay before the next attempt; grows the bound for the one after. */
  next(): number;
  /** Back to the initial bound (call after a success). */
  reset(): void;
  /** Attempts since the last reset. */
  attempts(): number;
}

/** Resolves `options` into the agent's one backoff policy. */
export function backoffPolicy(options: BackoffOptions = {}): BackoffPolicy {
  const initialMs = options.initialMs ?? 250;
  const maxMs = options.maxMs ?? 15_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? "full";
  const random = options.random ?? Math.random;
  if (!(initialMs >= 0) || !(maxMs >= 0) || !(multiplier >= 1))
    throw new RangeError(`backoff needs initialMs >= 0, maxMs >= 0 and multiplier >= 1`);
  return {
    initialMs,
    maxMs,
    multiplier,
    jitter,
    delay(attempt) {
      // The exponent is capped so that a long outage cannot overflow the bound to Infinity.
      const n = Math.min(Math.max(Math.floor(attempt), 1) - 1, 64);
      const bound = Math.min(maxMs, initialMs * multiplier ** n);
      if (jitter === "full") return Math.floor(random() * bound);
      if (jitter === "equal") return Math.round(bound / 2 + random() * (bound / 2));
      return Math.round(bound);
    },
  };
}

/**
 * A counter of consecutive failures over a {@link BackoffPolicy} (or the options of one); with the
 * default full jitter a fleet of agents that lost the control plane together does not reconnect in lockstep.
 */
export function createBackoff(policy: BackoffPolicy | BackoffOptions = {}): Backoff {
  const p = "delay" in policy ? policy : backoffPolicy(policy);
  let attempt = 0;
  return {
    next: () => p.delay(++attempt),
    reset() {
      attempt = 0;
    },
    attempts: () => attempt,
  };
}
