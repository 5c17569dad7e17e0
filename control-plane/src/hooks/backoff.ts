/** Retry policy of failed deliveries. */
export interface BackoffPolicy {
  /** Delay after the first failed attempt. @default 1000 */
  baseMs: number;
  /** Longest delay between two attempts. @default 300000 (5 min) */
  maxMs: number;
}

/** The default {@link BackoffPolicy}. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 300_000 };

/**
 * Delay before attempt `attempt + 1` after `attempt` failed: exponential (base * 2^(attempt-1),
 * capped at max) with "equal jitter" (a random point in the upper half), so that replicas and hooks
 * that failed together do not retry in lockstep. `random` returns [0, 1).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = policy.baseMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30);
  const capped = Math.min(policy.maxMs, exp);
  return Math.round(capped / 2 + random() * (capped / 2));
}
