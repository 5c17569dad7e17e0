import type { Check } from "@probemesh/proto";
import type { ConsensusEngine } from "./engine.js";
import { policyFromCheck, probedTarget } from "./policy.js";
import type { Transition } from "./types.js";

/** Keeps an engine's checks in step with the registry; see {@link createCheckTargets}. */
export interface CheckTargets {
  /** Adds or edits a check (created at `createdAt`); returns the engine's transitions. */
  upsert(check: Check, createdAt: number): Transition[];
  /** Forgets a check; returns the engine's transitions. */
  remove(checkId: string): Transition[];
  /** The uid of the check the engine knows under this id. */
  uidOf(checkId: string): string | undefined;
}

/**
 * Hands registry changes to `engine`, remembering what each check probes and since which config
 * version: an edit that changes the target is a new target, whose open incidents are abandoned
 * (never resolved) and whose old results stop voting. A new uid under a known id is another check
 * (its deletion was missed): nothing carries over.
 */
export function createCheckTargets(engine: Pick<ConsensusEngine, "upsertCheck" | "removeCheck">): CheckTargets {
  const targets = new Map<string, { target: string; sinceVersion: number; uid: string }>();
  return {
    upsert(check, createdAt) {
      const target = probedTarget(check);
      const previous = targets.get(check.id);
      const known = previous?.uid === check.uid ? previous : undefined;
      const replaced = known !== undefined && known.target !== target;
      const sinceVersion = replaced ? check.version : (known?.sinceVersion ?? 0);
      targets.set(check.id, { target, sinceVersion, uid: check.uid });
      return engine.upsertCheck({ ...policyFromCheck(check), sinceVersion, notBefore: createdAt }, { replaced });
    },
    remove(checkId) {
      targets.delete(checkId);
      return engine.removeCheck(checkId);
    },
    uidOf: (checkId) => targets.get(checkId)?.uid,
  };
}
