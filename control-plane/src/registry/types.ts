import { clone } from "@bufbuild/protobuf";
import { CheckSchema, type Check } from "@probemesh/proto";
import type { CheckRecord } from "../checks/check-record.js";
import type { WriteCondition } from "../errors.js";

/** One change of the registry, in registry order. `version` is the registry revision after it. */
export type RegistryChange =
  { type: "upsert"; version: number; record: CheckRecord } | { type: "delete"; version: number; id: string };

/** A consistent view of the registry plus a subscription to every later change. */
export interface RegistryWatch {
  /** Registry revision the snapshot reflects; changes delivered later have higher versions. */
  readonly version: number;
  /** Every check at `version`, sorted by id. */
  readonly checks: readonly CheckRecord[];
  /** Ends the subscription. */
  stop(): void;
}

/** The set of checks, shared by all control-plane replicas. */
export interface CheckRegistry {
  /** Stores a new check at version 1 with a new `uid` (any uid given is replaced); ConflictError when the id exists. */
  create(check: Check): Promise<CheckRecord>;
  /** Replaces an existing check, bumping its version; NotFoundError when the id does not exist, ValidationError (field `type` or `uid`) when the type or uid would change; the stored uid is kept. */
  replace(check: Check, cond?: WriteCondition): Promise<CheckRecord>;
  /** Removes a check; NotFoundError when the id does not exist. PreconditionFailedError when `cond` names another revision. */
  delete(id: string, cond?: WriteCondition): Promise<void>;
  /** The check with `id`, or undefined. */
  get(id: string): Promise<CheckRecord | undefined>;
  /** Every check, sorted by id. */
  list(): Promise<CheckRecord[]>;
  /** Snapshot plus subscription, atomically (no change is lost or seen twice between them). */
  watch(listener: (change: RegistryChange) => void): RegistryWatch;
  /** True once the registry has loaded the current checks and follows changes. */
  ready(): boolean;
}

/** A copy of `check` with `uid`. */
export function withUid(check: Check, uid: string): Check {
  const copy = clone(CheckSchema, check);
  copy.uid = uid;
  return copy;
}
