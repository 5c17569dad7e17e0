/** Options of an exponential backoff with full jitter. */
export interface BackoffOptions {
  /** Upper bound of the first delay. @default 250 */
  initialMs?: number;
  /** Cap of the delay's upper bound. @default 15000 */
  maxMs?: number;
  /** Growth of the upper bound per attempt. @default 2 */
  multiplier?: number;
  /** Random source in [0, 1); full jitter draws each delay uniformly below the bound. @default Math.random */
  random?: () => number;
}

/** Delays for successive retries. */
export interface Backoff {
  /** The delay before the next attempt; grows the bound for the one after. */
  next(): number;
  /** Back to the initial bound (call after a success). */
  reset(): void;
  /** Attempts since the last reset. */
  attempts(): number;
}

/**
 * Exponential backoff with full jitter (delay = random * min(max, initial * multiplier^n)), so a
 * fleet of agents that lost the control plane together does not reconnect in lockstep.
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? 250;
  const maxMs = options.maxMs ?? 15_000;
  const multiplier = options.multiplier ?? 2;
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next() {
      const bound = Math.min(maxMs, initialMs * multiplier ** attempt);
      attempt++;
      return Math.floor(random() * bound);
    },
    reset() {
      attempt = 0;
    },
    attempts: () => attempt,
  };
}
