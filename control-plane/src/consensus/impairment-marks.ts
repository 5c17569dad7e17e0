// Impairment shared across partitions and replicas. A partition's engine judges an agent impaired
// from that partition's checks only (its canary may live there, nowhere else); its decider writes a
// mark to NATS KV while it holds the lease, and every replica follows the bucket and tells each of its
// engines which agents another partition judges impaired (ConsensusEngine.setExternalImpairment).
import { StorageType } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { retryUntilAborted } from "../backoff.js";
import { listKvKeys, openKvBucket, openOnce } from "../jetstream/kv.js";
import { followKv, type KvFollower } from "../registry/kv-follower.js";
import type { KvWatchReopens } from "../registry/kv-watch-reopens.js";
import { escapeIncidentId, unescapeIncidentId } from "./incident-kv.js";
import { createOrderedWriter, type OrderedWriter } from "./ordered-writer.js";

/** NATS KV bucket of the marks, key `<escaped agent id>.p<partition>`, value JSON {@link ImpairmentMark}. */
export const IMPAIRMENT_BUCKET = "probemesh_impairment";

/** One partition's judgement that an agent is impaired. */
export interface ImpairmentMark {
  /** Why (the judging engine's reason, e.g. `canary check "dns-canary" failing (timeout)`). */
  reason: string;
  /** When the judging engine decided it (epoch ms). */
  since: number;
  /** The agent's region as the judging engine saw it ("" when unknown). */
  region?: string;
}

/** KV key of a mark: `<escaped agent id>.p<partition>` (the escaping of incident ids: no "." in the token). */
export function markKey(agentId: string, partition: number): string {
  return `${escapeIncidentId(agentId)}.p${partition}`;
}

/** The agent and partition of a mark's key; undefined for a key no mark has. */
export function parseMarkKey(key: string): { agentId: string; partition: number } | undefined {
  const m = /^([^.]+)\.p(0|[1-9][0-9]{0,5})$/.exec(key);
  if (!m) return undefined;
  return { agentId: unescapeIncidentId(m[1]!), partition: Number(m[2]) };
}

/** A mark's value, or undefined when it is no valid mark (a non-empty reason and a finite time). */
export function parseMark(text: string): ImpairmentMark | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const { reason, since, region } = v as Record<string, unknown>;
  if (typeof reason !== "string" || reason === "" || typeof since !== "number" || !Number.isFinite(since))
    return undefined;
  return {
    reason: reason.slice(0, 512),
    since,
    ...(typeof region === "string" ? { region: region.slice(0, 64) } : {}),
  };
}

/** Writes and reads of one replica's marks (see {@link createImpairmentMarks}). */
export interface ImpairmentMarks {
  put(partition: number, agentId: string, mark: ImpairmentMark): Promise<void>;
  delete(partition: number, agentId: string): Promise<void>;
  /** The marks of one partition, by agent id (read at a takeover to reconcile). */
  list(partition: number): Promise<Map<string, ImpairmentMark>>;
  /**
   * Follows every mark: `onEntry` gets each key with its value, or undefined once deleted, first the
   * current ones, then each change. The bucket is opened (retried) in the background.
   */
  follow(onEntry: (key: string, value: string | undefined) => void): { stop(): Promise<void> };
}

/** Opens (creating if needed) the {@link IMPAIRMENT_BUCKET}: history 1, file storage, `replicas` copies. */
export function openImpairmentBucket(nc: NatsConnection, replicas = 1): Promise<KV> {
  return openKvBucket(nc, IMPAIRMENT_BUCKET, { history: 1, storage: StorageType.File, replicas });
}

/** The marks in NATS KV; keys are listed without a consumer, as the incidents' are. */
export function createImpairmentMarks(opts: {
  nc: NatsConnection;
  replicas?: number;
  log: Logger;
  /** Counts the re-openings of the bucket's watchers (GET /metrics). */
  watchReopens?: KvWatchReopens;
}): ImpairmentMarks {
  const { nc, log } = opts;
  const kv = openOnce(() => openImpairmentBucket(nc, opts.replicas));
  return {
    async put(partition, agentId, mark) {
      await (await kv()).put(markKey(agentId, partition), JSON.stringify(mark));
    },
    async delete(partition, agentId) {
      await (await kv()).delete(markKey(agentId, partition));
    },
    async list(partition) {
      const b = await kv();
      const out = new Map<string, ImpairmentMark>();
      for (const key of await listKvKeys(nc, IMPAIRMENT_BUCKET, `*.p${partition}`)) {
        const e = await b.get(key);
        const at = parseMarkKey(key);
        if (!at || !e || e.operation !== "PUT" || e.length === 0) continue;
        // A malformed mark is listed too (with no reason): the reconciliation replaces or deletes it.
        out.set(at.agentId, parseMark(e.string()) ?? { reason: "", since: 0 });
      }
      return out;
    },
    follow(onEntry) {
      const abort = new AbortController();
      let follower: KvFollower | undefined;
      void retryUntilAborted({ what: "following impairment marks", log, signal: abort.signal }, async () => {
        const b = await kv();
        if (abort.signal.aborted) return;
        follower = followKv({
          kv: b,
          log,
          onEntry: (e: KvWatchEntry) => onEntry(e.key, e.operation === "PUT" ? e.string() : undefined),
          onReopen: opts.watchReopens?.of(IMPAIRMENT_BUCKET),
        });
      });
      return {
        async stop() {
          abort.abort();
          await follower?.stop();
        },
      };
    },
  };
}

/** Why an agent abstains because of another partition's mark: `impaired in partition <p>: <reason>`. */
export function markedReason(m: ImpairmentMark & { partition: number }): string {
  return `impaired in partition ${m.partition}: ${m.reason}`;
}

/** Counters of a replica's {@link ImpairmentBoard}. */
export interface ImpairmentBoardStats {
  /** Marks held now. */
  marks: number;
  /** Entries ignored since start: a key or value that is no mark. */
  malformed: number;
}

/** One replica's copy of every mark, and what each partition should take from it. */
export interface ImpairmentBoard {
  /** Applies one bucket entry (undefined value: deleted). Bad input is ignored and counted, never thrown. */
  apply(key: string, value: string | undefined): void;
  /** Why another partition than `partition` judges the agent impaired; null when none does. */
  elsewhere(agentId: string, partition: number): string | null;
  /** The agent's mark of the lowest partition `include` accepts (default: any), with that partition. */
  markOf(
    agentId: string,
    include?: (partition: number) => boolean,
  ): (ImpairmentMark & { partition: number }) | undefined;
  /** Agents with at least one mark. */
  agents(): string[];
  stats(): ImpairmentBoardStats;
}

/** Creates an empty board; `onChange` is called with an agent whose marks changed (it must not throw). */
export function createImpairmentBoard(opts: { log: Logger; onChange: (agentId: string) => void }): ImpairmentBoard {
  const { log } = opts;
  /** Marks by agent, then partition. */
  const marks = new Map<string, Map<number, ImpairmentMark>>();
  let count = 0;
  let malformed = 0;

  function bad(key: string, why: string): void {
    malformed++;
    log.warn({ key, malformed }, `impairment mark ignored: ${why}`);
  }

  function remove(agentId: string, partition: number): boolean {
    const of = marks.get(agentId);
    if (!of?.delete(partition)) return false;
    count--;
    if (of.size === 0) marks.delete(agentId);
    return true;
  }

  const markOf: ImpairmentBoard["markOf"] = (agentId, include = () => true) => {
    const of = marks.get(agentId);
    if (!of) return undefined;
    // The lowest partition's mark: every replica names the same one.
    let best: number | undefined;
    for (const p of of.keys()) if (include(p) && (best === undefined || p < best)) best = p;
    return best === undefined ? undefined : { ...of.get(best)!, partition: best };
  };

  return {
    apply(key, value) {
      const at = parseMarkKey(key);
      if (!at) {
        if (value !== undefined) bad(key, "key is not <agent>.p<partition>");
        return;
      }
      if (value === undefined) {
        if (remove(at.agentId, at.partition)) opts.onChange(at.agentId);
        return;
      }
      const mark = parseMark(value);
      if (!mark) {
        bad(key, "value is not {reason, since}");
        // What it replaced no longer holds.
        if (remove(at.agentId, at.partition)) opts.onChange(at.agentId);
        return;
      }
      let of = marks.get(at.agentId);
      if (!of) marks.set(at.agentId, (of = new Map()));
      const before = of.get(at.partition);
      if (!before) count++;
      of.set(at.partition, mark);
      if (before?.reason !== mark.reason) opts.onChange(at.agentId);
    },
    elsewhere(agentId, partition) {
      const m = markOf(agentId, (p) => p !== partition);
      return m ? markedReason(m) : null;
    },
    markOf,
    agents: () => [...marks.keys()],
    stats: () => ({ marks: count, malformed }),
  };
}

/** Options of {@link createMarkWriter}. */
export interface MarkWriterOptions {
  marks: Pick<ImpairmentMarks, "put" | "delete">;
  partition: number;
  /** Asked before every write: nothing is written for a lease no longer held. */
  held: () => boolean;
  log: Logger;
}

/** One decider's pending mark writes: per agent its newest judgement, a mark to write or null to delete it. */
export type MarkWriter = OrderedWriter<ImpairmentMark | null>;

/** The newest judgement per agent, written one at a time in order, fenced by the lease; retried by calling flush again. */
export function createMarkWriter(opts: MarkWriterOptions): MarkWriter {
  const { marks, partition, held, log } = opts;
  return createOrderedWriter<ImpairmentMark | null>({
    write: (agentId, mark) => (mark ? marks.put(partition, agentId, mark) : marks.delete(partition, agentId)),
    held,
    onFailure: (err, agentId, pending) =>
      log.warn({ err, agentId, pending }, "writing impairment mark to KV failed; will retry"),
  });
}
