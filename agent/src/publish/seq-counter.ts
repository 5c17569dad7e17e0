import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../atomic-file.js";
import { SeqStateError } from "../errors.js";

/**
 * Per-agent monotonic result sequence: a number that was released (see `released`) is never handed
 * out again, even across crashes, and the sequence runs without a gap across a crash of the process
 * (kill -9): see {@link openSeqCounter}.
 */
export interface SeqCounter {
  /** The next sequence number (first is 1). */
  next(): bigint;
  /** The last number handed out (0 when none yet). */
  last(): bigint;
  /**
   * Records that results up to `seq` are leaving the process (handed to the network or written to
   * the outbox). Call it before they leave: a restart after a crash resumes right after the highest
   * number recorded, so numbers handed out but never released are handed out again, and none that
   * may have been seen is. One `pwrite` to the page cache (no fsync) when `seq` is a new high.
   */
  released(seq: bigint): void;
  /** Records the last number handed out, so a clean restart continues without a gap. */
  close(): void;
}

/** Options of `openSeqCounter`. */
export interface SeqCounterOptions {
  /** State dir; the high-water mark lives in `<dir>/seq`, the released mark in `<dir>/seq.released`. */
  dir: string;
  /** Numbers reserved per durable (fsynced) write; an OS crash leaves a gap of at most this many. @default 1000 */
  blockSize?: number;
  /**
   * Identifies the running kernel: a released mark written under another one may have been lost
   * with the page cache, so it is not trusted. `undefined`: never trusted (resume at the reservation).
   * @default /proc/sys/kernel/random/boot_id (Linux)
   */
  bootId?: () => string | undefined;
}

export { SeqStateError };

const RELEASED_FILE = "seq.released";
/** `<boot id> <seq, 20 digits>\n`: fixed width, rewritten in place. */
const RELEASED = /^(\S{1,64}) (\d{20})$/;

/** The Linux boot id, or undefined elsewhere. */
export function linuxBootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens the counter. Two marks, for two kinds of crash:
 * - the reservation (`seq`): before handing out a number beyond the reserved block it persists a new
 *   high-water mark (atomically, fsynced), so after any crash, the machine's included, it resumes
 *   above anything already used (a gap of at most one block);
 * - the released mark (`seq.released`): the highest number that left the process, written with
 *   `pwrite` before the result leaves. A process crash (kill -9, OOM) loses nothing the process
 *   wrote to a file, only an OS crash loses the page cache; so when the mark was written under the
 *   running kernel (same boot id) the counter resumes right after it: no gap, and no number that
 *   may have been published or stored in the outbox is handed out twice. Results still in memory at
 *   the crash are lost either way; their numbers go to the next results.
 */
export function openSeqCounter(options: SeqCounterOptions): SeqCounter {
  const blockSize = BigInt(options.blockSize ?? 1000);
  const bootId = (options.bootId ?? linuxBootId)();
  mkdirSync(options.dir, { recursive: true });
  const path = join(options.dir, "seq");
  const releasedPath = join(options.dir, RELEASED_FILE);
  let reserved = 0n;
  if (existsSync(path)) {
    const text = readFileSync(path, "utf8").trim();
    if (!/^\d{1,20}$/.test(text)) {
      throw new SeqStateError(
        `sequence file ${path} is corrupt (${JSON.stringify(text.slice(0, 40))}); set it to a number above the last published seq`,
      );
    }
    reserved = BigInt(text);
  }
  let current = reserved;
  let released = 0n;
  if (bootId !== undefined && existsSync(releasedPath)) {
    const m = RELEASED.exec(readFileSync(releasedPath, "utf8").trim());
    // A mark above the reservation cannot come from this state dir's history: ignore it.
    if (m && m[1] === bootId && BigInt(m[2]!) <= reserved) current = released = BigInt(m[2]!);
  }
  const persist = (value: bigint) => writeFileAtomicSync(path, `${value}\n`);
  let releasedFd = bootId !== undefined && /^\S{1,64}$/.test(bootId) ? openSync(releasedPath, "w", 0o600) : undefined;
  const writeReleased = (value: bigint) => {
    if (releasedFd === undefined) return;
    const line = Buffer.from(`${bootId} ${value.toString().padStart(20, "0")}\n`, "latin1");
    try {
      writeSync(releasedFd, line, 0, line.length, 0);
    } catch (err) {
      // An older mark must not outlive a failed write (a restart would reuse numbers): drop the file
      // and resume above the fsynced reservation after a crash from now on; report it to the caller.
      const fd = releasedFd;
      releasedFd = undefined;
      closeSync(fd);
      rmSync(releasedPath, { force: true });
      throw new SeqStateError(`could not record the released seq in ${releasedPath}; no longer tracked`, {
        cause: err,
      });
    }
  };
  // Opening with "w" emptied it: write the resume point back at once (a crash right now must find it).
  // When the old mark was not trusted the resume point is the reservation: everything below may have been used.
  released = current;
  writeReleased(released);
  return {
    next() {
      if (current + 1n > reserved) {
        reserved = current + blockSize;
        persist(reserved);
      }
      current += 1n;
      return current;
    },
    last: () => current,
    released(seq) {
      if (seq <= released || seq > current || releasedFd === undefined) return;
      released = seq;
      writeReleased(seq);
    },
    close() {
      if (current < reserved) {
        reserved = current;
        persist(current);
      }
      // A clean stop continues after the last number handed out, released or not.
      if (releasedFd !== undefined) {
        released = current;
        writeReleased(current);
        closeSync(releasedFd);
        releasedFd = undefined;
      }
    },
  };
}
