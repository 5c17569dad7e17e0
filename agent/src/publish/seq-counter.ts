import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomicSync } from "../atomic-file.js";
import { SeqStateError } from "../errors.js";

/** Per-agent monotonic result sequence; never goes back, even across crashes. */
export interface SeqCounter {
  /** The next sequence number (first is 1). */
  next(): bigint;
  /** The last number handed out (0 when none yet). */
  last(): bigint;
  /** Records the last number handed out, so a clean restart continues without a gap. */
  close(): void;
}

/** Options of `openSeqCounter`. */
export interface SeqCounterOptions {
  /** State dir; the high-water mark lives in `<dir>/seq`. */
  dir: string;
  /** Numbers reserved per disk write; a crash leaves a gap of at most this many. @default 1000 */
  blockSize?: number;
}

export { SeqStateError };

/**
 * Opens the counter. Before handing out a number beyond the reserved block it persists a new
 * high-water mark (atomically), so after a crash it resumes above anything already used.
 */
export function openSeqCounter(options: SeqCounterOptions): SeqCounter {
  const blockSize = BigInt(options.blockSize ?? 1000);
  mkdirSync(options.dir, { recursive: true });
  const path = join(options.dir, "seq");
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
  const persist = (value: bigint) => writeFileAtomicSync(path, `${value}\n`);
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
    close() {
      if (current < reserved) {
        reserved = current;
        persist(current);
      }
    },
  };
}
