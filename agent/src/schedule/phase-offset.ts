import { createHash } from "node:crypto";

/**
 * Deterministic phase offset in [0, intervalMs) for one (check, agent) pair: the same after a
 * restart, and different across checks and agents so runs spread over the interval instead of
 * all firing on the same millisecond.
 */
export function phaseOffset(checkId: string, agentId: string, intervalMs: number): number {
  if (!(intervalMs >= 1)) return 0;
  const digest = createHash("sha256").update(checkId).update("\0").update(agentId).digest();
  // 48 bits keep the value an exact integer in a double.
  return digest.readUIntBE(0, 6) % Math.floor(intervalMs);
}

/**
 * First planned start at or after `nowMs`. Slots are `offset + n * interval` counted from the Unix
 * epoch (the absolute anchor), so they never drift and land on the same phase after a restart.
 */
export function nextSlotAtOrAfter(nowMs: number, offsetMs: number, intervalMs: number): number {
  const n = Math.ceil((nowMs - offsetMs) / intervalMs);
  return offsetMs + n * intervalMs;
}
