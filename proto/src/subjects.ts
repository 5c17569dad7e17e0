/** JetStream stream holding every probe result. */
export const RESULTS_STREAM = "PROBEMESH_RESULTS";

/**
 * Subject prefix of probe results. An agent publishes on `probemesh.results.<region>.<agentId>.<partition>`,
 * the partition being {@link partitionOf} its check's uid; agents of a control plane that announces no
 * partition count use the older `probemesh.results.<region>.<agentId>`.
 */
export const RESULTS_SUBJECT_PREFIX = "probemesh.results";

/** Wildcard covering every result subject. */
export const RESULTS_SUBJECT_ALL = `${RESULTS_SUBJECT_PREFIX}.>`;

/** Most partitions a mesh may be split into. */
export const MAX_PARTITIONS = 1024;

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `value` can be one token of a NATS subject (no dots, wildcards or spaces). */
export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}

/**
 * The decision partition of a check: FNV-1a (32 bit) of its uid's UTF-8 bytes, modulo `partitions`.
 * Stable across processes, versions and platforms; agent and control plane must agree on it.
 */
export function partitionOf(uid: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)
    throw new RangeError(`partitions must be an integer in 1..${MAX_PARTITIONS}, got ${partitions}`);
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(uid)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

/** The subject an agent publishes its results on; with `partition`, the partitioned form. */
export function resultSubject(region: string, agentId: string, partition?: number): string {
  if (!isSubjectToken(region)) throw new RangeError(`region ${JSON.stringify(region)} is not a valid subject token`);
  if (!isSubjectToken(agentId))
    throw new RangeError(`agent id ${JSON.stringify(agentId)} is not a valid subject token`);
  if (partition === undefined) return `${RESULTS_SUBJECT_PREFIX}.${region}.${agentId}`;
  if (!Number.isInteger(partition) || partition < 0 || partition >= MAX_PARTITIONS)
    throw new RangeError(`partition must be an integer in 0..${MAX_PARTITIONS - 1}, got ${partition}`);
  return `${RESULTS_SUBJECT_PREFIX}.${region}.${agentId}.${partition}`;
}

/** Filter subject of every result of one partition, whoever sent it. */
export function partitionResultsFilter(partition: number): string {
  return `${RESULTS_SUBJECT_PREFIX}.*.*.${partition}`;
}

/** The parts of a result subject, or undefined when `subject` is not one. */
export function parseResultSubject(
  subject: string,
): { region: string; agentId: string; partition: number | undefined } | undefined {
  const parts = subject.split(".");
  if (parts.length !== 4 && parts.length !== 5) return undefined;
  if (`${parts[0]}.${parts[1]}` !== RESULTS_SUBJECT_PREFIX) return undefined;
  const [region, agentId, p] = [parts[2]!, parts[3]!, parts[4]];
  if (!isSubjectToken(region) || !isSubjectToken(agentId)) return undefined;
  if (p === undefined) return { region, agentId, partition: undefined };
  if (!/^(0|[1-9][0-9]{0,3})$/.test(p) || Number(p) >= MAX_PARTITIONS) return undefined;
  return { region, agentId, partition: Number(p) };
}
