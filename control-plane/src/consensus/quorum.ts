import type { GlobalState, Quorum, RegionState } from "./types.js";

/**
 * Fewest eligible regions needed to decide anything. For "majority" and "all" more than half of the
 * check's regions must be eligible: otherwise one fresh region among silent ones could declare an
 * outage alone, which is exactly the false alarm consensus exists to prevent.
 */
export function minEligible(quorum: Quorum, totalRegions: number): number {
  if (quorum === "any") return 1;
  if (typeof quorum === "number") return quorum;
  return Math.floor(totalRegions / 2) + 1;
}

/** True when `count` of `eligible` regions satisfy the quorum (a majority tie is not enough). */
export function meetsQuorum(count: number, eligible: number, quorum: Quorum): boolean {
  if (count <= 0 || eligible <= 0) return false;
  if (quorum === "any") return true;
  if (quorum === "all") return count === eligible;
  if (quorum === "majority") return count * 2 > eligible;
  return count >= quorum;
}

/**
 * The global verdict from per-region states. `unknown` and `error` regions are not eligible
 * (stale, impaired, split, or unable to run the probe) and never count as down. `totalRegions` is how many regions the check runs in.
 */
export function decideGlobal(states: Iterable<RegionState>, quorum: Quorum, totalRegions: number): GlobalState {
  let eligible = 0;
  let down = 0;
  let degraded = 0;
  for (const s of states) {
    if (s === "unknown" || s === "error") continue;
    eligible++;
    if (s === "down") down++;
    else if (s === "degraded") degraded++;
  }
  if (eligible === 0 || eligible < minEligible(quorum, Math.max(totalRegions, eligible))) return "unknown";
  if (meetsQuorum(down, eligible, quorum)) return "down";
  if (down > 0) return "partial";
  if (meetsQuorum(degraded, eligible, quorum)) return "degraded";
  return "up";
}
