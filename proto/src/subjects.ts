/** JetStream stream holding every probe result. */
export const RESULTS_STREAM = "PROBEMESH_RESULTS";

/** Subject prefix of probe results; full subject is `probemesh.results.<region>.<agentId>`. */
export const RESULTS_SUBJECT_PREFIX = "probemesh.results";

/** Wildcard covering every result subject. */
export const RESULTS_SUBJECT_ALL = `${RESULTS_SUBJECT_PREFIX}.>`;

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `value` can be one token of a NATS subject (no dots, wildcards or spaces). */
export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}

/** The subject an agent publishes its results on. */
export function resultSubject(region: string, agentId: string): string {
  if (!isSubjectToken(region)) throw new RangeError(`region ${JSON.stringify(region)} is not a valid subject token`);
  if (!isSubjectToken(agentId))
    throw new RangeError(`agent id ${JSON.stringify(agentId)} is not a valid subject token`);
  return `${RESULTS_SUBJECT_PREFIX}.${region}.${agentId}`;
}
