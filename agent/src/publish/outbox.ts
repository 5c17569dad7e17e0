import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  writeSync,
  existsSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "pino";
import { fsyncDir, writeFileAtomicSync } from "../atomic-file.js";
import { OutboxClosedError } from "../errors.js";

/** Options of `openOutbox`. */
export interface OutboxOptions {
  /** Directory of the segment files (created if missing). */
  dir: string;
  /** Bound on the bytes on disk; beyond it the oldest segment is dropped and its records counted. */
  maxBytes: number;
  /** Size at which a segment is closed (fsynced) and a new one started. @default maxBytes/16, within 4 KiB..8 MiB */
  segmentBytes?: number;
  /** How often appended records are fsynced while a segment is open. @default 1000 */
  fsyncIntervalMs?: number;
  /** Acks between two writes of the replay cursor; a crash replays at most this many again. @default 64 */
  cursorEvery?: number;
  log: Logger;
}

/** Where a record sits; `ack` only acts on the record still at the head. */
export interface OutboxEntry {
  readonly bytes: Uint8Array;
  readonly segment: number;
  readonly offset: number;
}

/** Counters of the outbox. */
export interface OutboxStats {
  /** Records waiting for replay. */
  depth: number;
  /** Bytes of segment files on disk. */
  bytes: number;
  /** Records dropped to respect the bound (oldest first). */
  dropped: number;
  /** Records lost to torn or corrupt writes found on open. */
  corrupt: number;
  /** Appends that failed on I/O errors (the record is lost and counted). */
  writeErrors: number;
}

/**
 * A bounded, crash-safe FIFO of opaque records on disk: append-only segment files of
 * `[u32 length][u32 crc32][payload]` records. Records are read back in order with `peek` and
 * removed with `ack`; fully replayed segments are deleted.
 */
export interface Outbox {
  /** Appends a record; returns false when it could not be stored (too big or I/O error), which is counted. */
  append(record: Uint8Array): boolean;
  /** The oldest record not yet acknowledged. */
  peek(): OutboxEntry | undefined;
  /** Removes `entry` if it is still the head (it may have been dropped meanwhile). */
  ack(entry: OutboxEntry): void;
  depth(): number;
  stats(): OutboxStats;
  /** Forces appended records to disk. */
  flush(): void;
  /** Flushes, saves the replay cursor and closes files. */
  close(): void;
}

interface Segment {
  id: number;
  path: string;
  /** Bytes in the file. */
  size: number;
  /** Records not yet acknowledged. */
  records: number;
}

const HEADER = 8;
const SEGMENT = /^seg-(\d{12})\.log$/;

/** Opens (or creates) the outbox in `dir`, recovering what a crash left: torn tails are cut off. */
export function openOutbox(options: OutboxOptions): Outbox {
  const log = options.log.child({ component: "outbox" });
  const maxBytes = options.maxBytes;
  const segmentBytes = options.segmentBytes ?? Math.min(8 * 1024 * 1024, Math.max(4096, Math.floor(maxBytes / 16)));
  if (segmentBytes * 2 > maxBytes)
    throw new RangeError(`outbox segment size ${segmentBytes} must be at most half of maxBytes ${maxBytes}`);
  const cursorEvery = options.cursorEvery ?? 64;
  const dir = options.dir;
  mkdirSync(dir, { recursive: true });
  const cursorPath = join(dir, "cursor");

  const segments: Segment[] = [];
  let headOffset = 0;
  let tailFd: number | undefined;
  let readFd: { id: number; fd: number } | undefined;
  let nextId = 1;
  let totalBytes = 0;
  let depth = 0;
  let dropped = 0;
  let corrupt = 0;
  let writeErrors = 0;
  let dirty = false;
  let acksSinceCursor = 0;
  let closed = false;

  // --- recovery ---------------------------------------------------------------------------
  const ids = readdirSync(dir)
    .map((f) => SEGMENT.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const cursor = readCursor(cursorPath);
  for (const [i, id] of ids.entries()) {
    const path = segmentPath(dir, id);
    const data = readFileSync(path);
    const boundaries = new Set<number>([0]);
    let off = 0;
    let records = 0;
    while (off + HEADER <= data.length) {
      const len = data.readUInt32BE(off);
      const sum = data.readUInt32BE(off + 4);
      if (off + HEADER + len > data.length || crc32(data.subarray(off + HEADER, off + HEADER + len)) !== sum) break;
      off += HEADER + len;
      records++;
      boundaries.add(off);
    }
    if (off < data.length) {
      // A torn write at a crash (or bit rot): keep the valid prefix, count what is cut.
      corrupt++;
      log.warn(
        { segment: id, validBytes: off, fileBytes: data.length },
        "outbox segment has a torn or corrupt tail; truncating",
      );
      const fd = openSync(path, "r+");
      ftruncateSync(fd, off);
      fsyncSync(fd);
      closeSync(fd);
    }
    let skip = 0;
    if (i === 0 && cursor && cursor.segment === id && boundaries.has(cursor.offset)) {
      headOffset = cursor.offset;
      for (let o = 0; o < cursor.offset;) {
        o += HEADER + data.readUInt32BE(o);
        skip++;
      }
    }
    segments.push({ id, path, size: off, records: records - skip });
    totalBytes += off;
    depth += records - skip;
    nextId = id + 1;
  }
  if (cursor) {
    // Ids only grow, so a cursor never points into a newer segment that reused an old id.
    nextId = Math.max(nextId, cursor.segment + 1);
    if (segments[0]?.id !== cursor.segment) rmSync(cursorPath, { force: true });
  }
  if (depth > 0) log.info({ depth, segments: segments.length, bytes: totalBytes }, "outbox has results to replay");

  const fsyncTimer = setInterval(() => {
    if (dirty) flushTail();
  }, options.fsyncIntervalMs ?? 1000);
  fsyncTimer.unref();

  // --- helpers ----------------------------------------------------------------------------
  function flushTail() {
    if (tailFd === undefined) return;
    try {
      fsyncSync(tailFd);
      dirty = false;
    } catch (err) {
      log.error({ err }, "outbox fsync failed");
    }
  }

  function closeTail() {
    if (tailFd === undefined) return;
    flushTail();
    closeSync(tailFd);
    tailFd = undefined;
  }

  function closeRead() {
    if (readFd) closeSync(readFd.fd);
    readFd = undefined;
  }

  function tailFdFor(seg: Segment): number {
    if (tailFd === undefined) tailFd = openSync(seg.path, "a", 0o600);
    return tailFd;
  }

  function newSegment(): Segment {
    closeTail();
    const id = nextId++;
    const seg: Segment = { id, path: segmentPath(dir, id), size: 0, records: 0 };
    tailFd = openSync(seg.path, "a", 0o600);
    fsyncDir(dir);
    segments.push(seg);
    return seg;
  }

  function deleteSegment(seg: Segment) {
    if (readFd?.id === seg.id) closeRead();
    if (segments.at(-1) === seg) closeTail();
    rmSync(seg.path, { force: true });
    totalBytes -= seg.size;
    depth -= seg.records;
  }

  function dropOldest(): void {
    const seg = segments.shift();
    if (!seg) return;
    dropped += seg.records;
    log.warn({ segment: seg.id, records: seg.records }, "outbox full: dropped the oldest results");
    deleteSegment(seg);
    headOffset = 0;
  }

  function saveCursor() {
    const head = segments[0];
    acksSinceCursor = 0;
    if (!head) return;
    try {
      writeFileAtomicSync(cursorPath, `${head.id} ${headOffset}\n`);
    } catch (err) {
      log.error({ err }, "could not save the outbox cursor");
    }
  }

  function readAt(seg: Segment, offset: number): Uint8Array | undefined {
    if (readFd?.id !== seg.id) {
      closeRead();
      readFd = { id: seg.id, fd: openSync(seg.path, "r") };
    }
    const header = Buffer.alloc(HEADER);
    if (readSync(readFd.fd, header, 0, HEADER, offset) !== HEADER) return undefined;
    const len = header.readUInt32BE(0);
    const payload = Buffer.alloc(len);
    if (len > 0 && readSync(readFd.fd, payload, 0, len, offset + HEADER) !== len) return undefined;
    return payload;
  }

  // --- API --------------------------------------------------------------------------------
  return {
    append(record) {
      if (closed) throw new OutboxClosedError();
      const frameLen = HEADER + record.length;
      if (frameLen > segmentBytes) {
        dropped++;
        log.error({ bytes: record.length, segmentBytes }, "record larger than an outbox segment; dropped");
        return false;
      }
      try {
        let tail = segments.at(-1);
        if (!tail || tail.size + frameLen > segmentBytes) tail = newSegment();
        while (totalBytes + frameLen > maxBytes && segments.length > 1) dropOldest();
        const frame = Buffer.allocUnsafe(frameLen);
        frame.writeUInt32BE(record.length, 0);
        frame.writeUInt32BE(crc32(record), 4);
        frame.set(record, HEADER);
        const fd = tailFdFor(tail);
        let off = 0;
        while (off < frameLen) off += writeSync(fd, frame, off, frameLen - off);
        tail.size += frameLen;
        tail.records++;
        totalBytes += frameLen;
        depth++;
        dirty = true;
        return true;
      } catch (err) {
        writeErrors++;
        log.error({ err }, "outbox append failed; result lost");
        return false;
      }
    },

    peek() {
      for (;;) {
        const head = segments[0];
        if (!head || head.records === 0) return undefined;
        const bytes = readAt(head, headOffset);
        if (bytes) return { bytes, segment: head.id, offset: headOffset };
        // The file is shorter than its count says (deleted under us?): give up on this segment.
        corrupt += head.records;
        log.error({ segment: head.id }, "outbox segment unreadable; skipping it");
        segments.shift();
        deleteSegment(head);
        headOffset = 0;
      }
    },

    ack(entry) {
      const head = segments[0];
      if (!head || head.id !== entry.segment || headOffset !== entry.offset) return;
      headOffset += HEADER + entry.bytes.length;
      head.records--;
      depth--;
      if (head.records === 0) {
        // Fully replayed: delete it; the next append starts a fresh segment if it was the tail.
        segments.shift();
        deleteSegment(head);
        headOffset = 0;
      }
      if (++acksSinceCursor >= cursorEvery) saveCursor();
    },

    depth: () => depth,

    stats: () => ({ depth, bytes: totalBytes, dropped, corrupt, writeErrors }),

    flush: flushTail,

    close() {
      if (closed) return;
      closed = true;
      clearInterval(fsyncTimer);
      closeTail();
      closeRead();
      if (segments.length > 0) saveCursor();
      else rmSync(cursorPath, { force: true });
    },
  };
}

function segmentPath(dir: string, id: number): string {
  return join(dir, `seg-${String(id).padStart(12, "0")}.log`);
}

function readCursor(path: string): { segment: number; offset: number } | undefined {
  if (!existsSync(path)) return undefined;
  const m = /^(\d+) (\d+)$/.exec(readFileSync(path, "utf8").trim());
  return m ? { segment: Number(m[1]), offset: Number(m[2]) } : undefined;
}
