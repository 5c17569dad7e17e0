import { createHash } from "node:crypto";

/**
 * Deterministic phase offset in [0, intervalMs) for one (check, agent) pair: the same after a
 * restart, and different across checks and agents so runs spread over the interval instead of
 * all firing on the same millisecond.
 */
export function phaseOffset(checkId: string, agentId: string, intervalMs: number): number {
  if (!(intervalMs >= 1)) return 0;
  return hash48(checkId, agentId) % Math.floor(intervalMs);
}

/** Where an agent's region stands among the regions that run a check: slot `index` of `count`. */
export interface RegionSlot {
  index: number;
  count: number;
}

/**
 * The slot of `region` among the regions that run `check`: its own `regions` when it names them,
 * else the mesh's (`meshRegions`, as the control plane announced them). Undefined when the region is
 * not among them or fewer than two regions run the check (nothing to spread).
 */
export function regionSlot(
  check: { regions: readonly string[] },
  region: string,
  meshRegions: readonly string[],
): RegionSlot | undefined {
  const regions = [...new Set(check.regions.length > 0 ? check.regions : meshRegions)].sort();
  const index = regions.indexOf(region);
  return index < 0 || regions.length < 2 ? undefined : { index, count: regions.length };
}

/**
 * Phase offset in [0, intervalMs) of one (check, agent) pair in a region's slot: the check's runs
 * start at a point of the interval given by the check alone, each region `interval / count` after the
 * previous one, each agent of a region within the first quarter of its region's slot. A target that
 * fails is then seen by a second region at most two slots and a quarter later (3/4 of the interval with three
 * regions), not up to a whole interval as with independent offsets. Deterministic, as
 * {@link phaseOffset}.
 */
export function regionPhaseOffset(checkId: string, agentId: string, intervalMs: number, slot: RegionSlot): number {
  if (!(intervalMs >= 1)) return 0;
  const interval = Math.floor(intervalMs);
  const width = Math.floor(interval / slot.count);
  const spread = Math.floor(width / 4);
  const inRegion = spread > 0 ? hash48(checkId, agentId) % spread : 0;
  return (hash48(checkId, "") + slot.index * width + inRegion) % interval;
}

function hash48(checkId: string, agentId: string): number {
  const digest = createHash("sha256").update(checkId).update("\0").update(agentId).digest();
  // 48 bits keep the value an exact integer in a double.
  return digest.readUIntBE(0, 6);
}

/**
 * First planned start at or after `nowMs`. Slots are `offset + n * interval` counted from the Unix
 * epoch (the absolute anchor), so they never drift and land on the same phase after a restart.
 */
export function nextSlotAtOrAfter(nowMs: number, offsetMs: number, intervalMs: number): number {
  const n = Math.ceil((nowMs - offsetMs) / intervalMs);
  return offsetMs + n * intervalMs;
}
