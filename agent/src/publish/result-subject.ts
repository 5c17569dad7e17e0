import { MAX_PARTITIONS, partitionOf, resultSubject, type Check } from "@probemesh/proto";

/** Who publishes: the tokens of its subjects. */
export interface SubjectIdentity {
  region: string;
  agentId: string;
}

/**
 * The subject a result of `check` goes to: `probemesh.results.<region>.<agentId>.<partitionOf(uid, partitions)>`,
 * where that partition's decider reads, when the control plane announced a partition count (1..MAX_PARTITIONS)
 * and the check has a uid; otherwise (a control plane that predates partitions, a check created before
 * uids) `probemesh.results.<region>.<agentId>`.
 */
export function subjectForResult(agent: SubjectIdentity, check: Pick<Check, "uid">, partitions: number): string {
  if (check.uid === "" || !Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)
    return resultSubject(agent.region, agent.agentId);
  return resultSubject(agent.region, agent.agentId, partitionOf(check.uid, partitions));
}
