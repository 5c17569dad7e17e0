import { create } from "@bufbuild/protobuf";
import { AssignmentDeltaSchema, type AssignmentDelta, type Check } from "@probemesh/proto";
import type { AgentIdentity } from "../agents/types.js";
import { checkRunnableBy, checkRunsIn, type CheckRecord } from "../checks/check-record.js";
import type { RegistryChange } from "../registry/types.js";

/** What decides an agent's assignment: its region and the check types it announced. */
export type AssignmentTarget = Pick<AgentIdentity, "region" | "capabilities">;

/**
 * True when `agent` is given the check: the check runs in its region and its type is among the
 * agent's capabilities. A region with no capable agent gets no results, so it abstains.
 */
export function assigns(check: Check, agent: AssignmentTarget): boolean {
  return checkRunsIn(check, agent.region) && checkRunnableBy(check, agent);
}

/**
 * The checks `agent` runs, out of every check in the registry. Records come from the registry with
 * their secrets opened (they are sealed only in KV): this filter is what keeps a check's secrets
 * from agents of other regions, so nothing else may be sent.
 */
export function assignedChecks(records: readonly CheckRecord[], agent: AssignmentTarget): Check[] {
  return records.filter((r) => assigns(r.check, agent)).map((r) => r.check);
}

/**
 * The delta a registry change means for `agent` whose current assignment is `assigned` (updated in
 * place), or undefined when the change does not concern it. A check the agent is no longer given
 * (its regions no longer include the agent's) is "removed" for that agent.
 */
export function assignmentDelta(
  change: RegistryChange,
  agent: AssignmentTarget,
  assigned: Set<string>,
): AssignmentDelta | undefined {
  const version = BigInt(change.version);
  if (change.type === "delete") {
    if (!assigned.delete(change.id)) return undefined;
    return create(AssignmentDeltaSchema, { version, removed: [change.id] });
  }
  const check = change.record.check;
  if (assigns(check, agent)) {
    assigned.add(check.id);
    return create(AssignmentDeltaSchema, { version, upserted: [check] });
  }
  if (!assigned.delete(check.id)) return undefined;
  return create(AssignmentDeltaSchema, { version, removed: [check.id] });
}
