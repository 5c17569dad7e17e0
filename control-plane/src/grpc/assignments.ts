import { create } from "@bufbuild/protobuf";
import { AssignmentDeltaSchema, type AssignmentDelta, type Check } from "@probemesh/proto";
import { checkRunsIn, type CheckRecord } from "../checks/check-record.js";
import type { RegistryChange } from "../registry/types.js";

/** The checks an agent in `region` runs, out of every check in the registry. */
export function assignedChecks(records: readonly CheckRecord[], region: string): Check[] {
  return records.filter((r) => checkRunsIn(r.check, region)).map((r) => r.check);
}

/**
 * The delta a registry change means for an agent in `region` whose current assignment is `assigned`
 * (updated in place), or undefined when the change does not concern it. A check whose regions no
 * longer include the agent's region is "removed" for that agent.
 */
export function assignmentDelta(
  change: RegistryChange,
  region: string,
  assigned: Set<string>,
): AssignmentDelta | undefined {
  const version = BigInt(change.version);
  if (change.type === "delete") {
    if (!assigned.delete(change.id)) return undefined;
    return create(AssignmentDeltaSchema, { version, removed: [change.id] });
  }
  const check = change.record.check;
  if (checkRunsIn(check, region)) {
    assigned.add(check.id);
    return create(AssignmentDeltaSchema, { version, upserted: [check] });
  }
  if (!assigned.delete(check.id)) return undefined;
  return create(AssignmentDeltaSchema, { version, removed: [check.id] });
}
