import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";

/** One stored message of a {@link memoryKv} bucket. */
export interface MemoryKvEntry {
  key: string;
  revision: number;
  operation: "PUT" | "DEL";
  value: string;
  created: Date;
}

/** The part of a KV bucket the control plane's KV users take (`kv` options of leases, registry, followers). */
export type MemoryKvBucket = Pick<KV, "create" | "update" | "put" | "get" | "delete" | "watch" | "status">;

/** An error as the client throws it for a NATS request nobody answered in time. */
export function requestTimeout(): Error {
  return Object.assign(new Error("timeout"), { name: "TimeoutError" });
}

/**
 * An in-memory KV bucket for unit tests, with the compare-and-set rules of NATS KV (revision = stream
 * sequence, history 1), a switch that makes every request fail as during a leader election, one that
 * applies an update but loses its reply, and watchers that can be stalled (as when the NATS node
 * holding one is killed: the bucket moves on, the watcher delivers nothing more).
 */
export function memoryKv() {
  const log: MemoryKvEntry[] = [];
  const last = new Map<string, MemoryKvEntry>();
  const watchers = new Set<{ push: (e: MemoryKvEntry) => void; stalled: boolean }>();
  const b = {
    /** Every request fails with this while set. */
    failing: undefined as (() => Error) | undefined,
    /** The next update is applied, then its reply is lost. */
    loseNextReply: false,
    watchesOpened: 0,
    /** Stream info requests answered. */
    statusRequests: 0,
    /** Every watcher open now stops delivering (those opened later work). */
    stallWatchers() {
      for (const w of watchers) w.stalled = true;
    },
    /** Writes as another replica would (every unstalled watcher sees it). */
    append(key: string, operation: "PUT" | "DEL", value: string): number {
      const e: MemoryKvEntry = { key, revision: log.length + 1, operation, value, created: new Date() };
      log.push(e);
      last.set(key, e);
      for (const w of watchers) if (!w.stalled) w.push(e);
      return e.revision;
    },
    /** The JSON value of `key`, or undefined when absent or deleted. */
    value<T = { owner: string; epoch?: number }>(key: string): T | undefined {
      const e = last.get(key);
      return e?.operation === "PUT" ? (JSON.parse(e.value) as T) : undefined;
    },
    /** Every message ever written, in revision order. */
    history: (): readonly MemoryKvEntry[] => log,
    lastRevision: () => log.length,
  };
  const check = () => {
    if (b.failing) throw b.failing();
  };
  const conflict = () =>
    new JetStreamApiError({
      err_code: JetStreamApiCodes.StreamWrongLastSequence,
      code: 400,
      description: "wrong last sequence",
    });
  const entry = (e: MemoryKvEntry) => ({
    ...e,
    length: e.value.length,
    string: () => e.value,
    json: <T>() => JSON.parse(e.value) as T,
  });
  const bucket = {
    async create(key: string, value: string) {
      check();
      if (last.get(key)?.operation === "PUT") throw new Error("wrong last sequence: key exists");
      return b.append(key, "PUT", value);
    },
    async update(key: string, value: string, revision: number) {
      check();
      if ((last.get(key)?.revision ?? 0) !== revision) throw conflict();
      const r = b.append(key, "PUT", value);
      if (b.loseNextReply) {
        b.loseNextReply = false;
        throw requestTimeout();
      }
      return r;
    },
    async put(key: string, value: string) {
      check();
      return b.append(key, "PUT", value);
    },
    async get(key: string, opts?: { revision: number }) {
      check();
      const e = opts ? log.find((x) => x.revision === opts.revision && x.key === key) : last.get(key);
      return e ? entry(e) : null;
    },
    async delete(key: string, opts?: { previousSeq?: number }) {
      check();
      if (opts?.previousSeq !== undefined && last.get(key)?.revision !== opts.previousSeq) throw conflict();
      b.append(key, "DEL", "");
    },
    async status() {
      check();
      b.statusRequests++;
      return { streamInfo: { state: { messages: log.length, last_seq: log.length } } };
    },
    async watch(opts: { resumeFromRevision?: number } = {}) {
      check();
      b.watchesOpened++;
      const queue: MemoryKvEntry[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      const w = {
        stalled: false,
        push: (e: MemoryKvEntry) => {
          queue.push(e);
          wake?.();
        },
      };
      const from = opts.resumeFromRevision ?? 0;
      queue.push(...(from > 0 ? log.filter((x) => x.revision >= from) : [...last.values()]));
      queue.sort((x, y) => x.revision - y.revision);
      watchers.add(w);
      return {
        stop() {
          done = true;
          watchers.delete(w);
          wake?.();
        },
        async *[Symbol.asyncIterator]() {
          while (!done) {
            const e = queue.shift();
            if (e) yield entry(e);
            else await new Promise<void>((r) => (wake = r));
          }
        },
      };
    },
  };
  return { b, bucket: bucket as unknown as MemoryKvBucket };
}
