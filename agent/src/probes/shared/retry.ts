import { sleep } from "../../sleep.js";
import type { ProbeOutcome } from "../types.js";

/** Pause between attempts: long enough not to hammer a refusing port, short next to any timeout. */
const RETRY_PAUSE_MS = 100;

/**
 * Runs `attempt` up to `1 + retries` times while any outcome is down and time remains, and
 * stamps every outcome with the attempt count and the whole run's duration: retries are reported,
 * never hidden.
 */
export async function withRetries(
  retries: number,
  signal: AbortSignal,
  now: () => number,
  attempt: () => Promise<ProbeOutcome[]>,
): Promise<ProbeOutcome[]> {
  const started = now();
  const max = 1 + Math.max(0, Math.min(retries, 10));
  let outcomes: ProbeOutcome[] = [];
  let n = 0;
  while (n < max) {
    n++;
    outcomes = await attempt();
    if (signal.aborted || outcomes.every((o) => o.state !== "down")) break;
    if (n < max) await sleep(RETRY_PAUSE_MS, signal);
    if (signal.aborted) break;
  }
  const durationMs = Math.max(0, Math.round((now() - started) * 1000) / 1000);
  return outcomes.map((o) => ({ ...o, attempts: n, durationMs: n > 1 ? durationMs : o.durationMs }));
}
