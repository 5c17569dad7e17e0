import { equals } from "@bufbuild/protobuf";
import { CheckSchema, type Check } from "@probemesh/proto";

/** One change to the set of checks this agent runs. */
export type AssignmentChange =
  { kind: "upsert"; check: Check; previous?: Check } | { kind: "remove"; checkId: string; previous: Check };

/** A full set of checks at a registry version (the snapshot message as plain data). */
export interface AssignmentState {
  version: bigint;
  checks: Check[];
  /** The mesh's partition count the control plane announced; 0 = none (it predates partitions). */
  partitions: number;
  /** The mesh's regions the control plane announced, sorted; absent or empty = none announced. */
  regions?: readonly string[];
}

/** The checks currently assigned to this agent, with the version they came from. */
export interface AssignmentSet {
  version(): bigint;
  checks(): Check[];
  /** The partition count of the last snapshot or delta (0 = none announced): results are published by it. */
  partitions(): number;
  /** The mesh's regions of the last snapshot or delta (empty = none announced): runs are placed by them. */
  regions(): readonly string[];
  /** Replaces the whole set; returns the changes from the previous set (unchanged checks yield nothing). */
  applySnapshot(snapshot: AssignmentState): AssignmentChange[];
  /** Applies upserts then removals and takes the delta's partition count; returns what actually changed. */
  applyDelta(delta: {
    version: bigint;
    upserted: Check[];
    removed: string[];
    partitions: number;
    regions?: readonly string[];
  }): AssignmentChange[];
}

/** Options of `createAssignmentSet`. */
export interface AssignmentSetOptions {
  /** This agent's region; checks restricted to other regions are not run even if sent. */
  region: string;
}

/** Creates an empty assignment set (version 0). */
export function createAssignmentSet(options: AssignmentSetOptions): AssignmentSet {
  const checks = new Map<string, Check>();
  let version = 0n;
  let partitions = 0;
  let regions: readonly string[] = [];
  // Defensive: the control plane filters by region already, but running another region's
  // check would report from the wrong vantage point.
  const mine = (c: Check) => c.regions.length === 0 || c.regions.includes(options.region);

  const upsert = (check: Check, out: AssignmentChange[]) => {
    if (!mine(check)) {
      remove(check.id, out);
      return;
    }
    const previous = checks.get(check.id);
    if (previous && equals(CheckSchema, previous, check)) return;
    checks.set(check.id, check);
    out.push(previous ? { kind: "upsert", check, previous } : { kind: "upsert", check });
  };
  const remove = (id: string, out: AssignmentChange[]) => {
    const previous = checks.get(id);
    if (!previous) return;
    checks.delete(id);
    out.push({ kind: "remove", checkId: id, previous });
  };

  return {
    version: () => version,
    checks: () => [...checks.values()],
    partitions: () => partitions,
    regions: () => regions,
    applySnapshot(snapshot) {
      const out: AssignmentChange[] = [];
      const incoming = new Set(snapshot.checks.map((c) => c.id));
      for (const id of [...checks.keys()]) if (!incoming.has(id)) remove(id, out);
      for (const c of snapshot.checks) upsert(c, out);
      version = snapshot.version;
      partitions = snapshot.partitions;
      regions = [...(snapshot.regions ?? [])];
      return out;
    },
    applyDelta(delta) {
      const out: AssignmentChange[] = [];
      for (const c of delta.upserted) upsert(c, out);
      for (const id of delta.removed) remove(id, out);
      if (delta.version > version) version = delta.version;
      // Every delta repeats the count: the latest message is the control plane's current word.
      partitions = delta.partitions;
      regions = [...(delta.regions ?? [])];
      return out;
    },
  };
}
