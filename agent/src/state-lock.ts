import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StateDirLockedError } from "./errors.js";

export { StateDirLockedError };

/** Held lock on a state dir; `release` removes it. */
export interface StateLock {
  release(): void;
}

/**
 * Takes `<dir>/agent.lock` for this process. Two agents sharing a state dir would interleave
 * outbox segments and reuse sequence numbers, so a lock held by a live process is refused; one
 * left by a dead process is taken over.
 */
export function lockStateDir(dir: string, pid = process.pid): StateLock {
  const path = join(dir, "agent.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${pid}\n`, { flag: "wx", mode: 0o600 });
      return {
        release() {
          try {
            if (readFileSync(path, "utf8").trim() === String(pid)) rmSync(path, { force: true });
          } catch {
            // Already gone.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(path, "utf8").trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== pid && isAlive(holder)) {
        throw new StateDirLockedError(
          `state dir ${dir} is in use by agent process ${holder}; give each agent its own PROBEMESH_STATE_DIR`,
        );
      }
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new StateDirLockedError(`could not lock state dir ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
