import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { AssignmentSnapshotSchema } from "@probemesh/proto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { writeFileAtomicSync } from "../atomic-file.js";
import type { AssignmentState } from "./assignment-set.js";

/**
 * The last full assignment set and partition count, kept on disk so the agent probes (and publishes on
 * the right partitions) while the control plane is away.
 */
export interface AssignmentCache {
  /** The cached set, or undefined when there is none or it is unreadable (logged). */
  load(): (AssignmentState & { savedAtMs: number }) | undefined;
  /** Replaces the cache atomically; I/O errors are logged, not thrown. */
  save(state: AssignmentState): void;
  /** Where the cache lives. */
  readonly path: string;
}

/** Options of `createAssignmentCache`. */
export interface AssignmentCacheOptions {
  /** State dir; the cache is `<dir>/assignments.json`. */
  dir: string;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
}

/** Creates the cache (JSON form of `AssignmentSnapshot`, readable by operators). */
export function createAssignmentCache(options: AssignmentCacheOptions): AssignmentCache {
  const log = options.log.child({ component: "assignment-cache" });
  const path = join(options.dir, "assignments.json");
  const now = options.now ?? Date.now;
  return {
    path,
    load() {
      if (!existsSync(path)) return undefined;
      try {
        const doc = JSON.parse(readFileSync(path, "utf8")) as { savedAtMs?: unknown; snapshot?: JsonValue };
        const snapshot = fromJson(AssignmentSnapshotSchema, doc.snapshot ?? null);
        return {
          version: snapshot.version,
          checks: snapshot.checks,
          // Absent in caches of earlier releases: 0, the unpartitioned subject, until the control plane answers.
          partitions: snapshot.partitions,
          // Absent in caches of earlier releases too: runs are placed by hash until the control plane answers.
          regions: snapshot.regions,
          savedAtMs: typeof doc.savedAtMs === "number" ? doc.savedAtMs : 0,
        };
      } catch (err) {
        log.warn({ err, path }, "assignment cache unreadable; starting without it");
        return undefined;
      }
    },
    save(state) {
      try {
        mkdirSync(options.dir, { recursive: true });
        const snapshot = toJson(
          AssignmentSnapshotSchema,
          create(AssignmentSnapshotSchema, {
            version: state.version,
            checks: state.checks,
            partitions: state.partitions,
            regions: [...(state.regions ?? [])],
          }),
        );
        writeFileAtomicSync(path, `${JSON.stringify({ savedAtMs: now(), snapshot }, null, 1)}\n`);
      } catch (err) {
        log.error({ err, path }, "could not save the assignment cache");
      }
    },
  };
}
