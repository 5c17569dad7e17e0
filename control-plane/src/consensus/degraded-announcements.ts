import { StorageType } from "@nats-io/jetstream";
import { type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { checkIdFromKey, checkKey } from "../registry/check-entry.js";
import { openConsumerFreeKv, openOnce } from "../jetstream/kv.js";

/** NATS KV bucket of the checks whose `check.degraded` went to hooks without a `check.recovered` yet. */
export const DEGRADED_BUCKET = "probemesh_degraded";

/** A check whose `check.degraded` was announced to hooks at `at` (epoch ms) and not yet followed by `check.recovered`. */
export interface DegradedMark {
  checkId: string;
  at: number;
  /**
   * The announced episode (`Transition.episode`): its `check.recovered` carries the same one, whichever
   * replica announces it. Absent in marks written before episodes.
   */
  episode?: string;
}

/** The part of a NATS KV bucket this module uses (a memory fake fits for tests). */
export type DegradedBucket = Pick<KV, "put" | "delete" | "get"> & {
  keys(): Promise<AsyncIterable<string> | Iterable<string>>;
};

/** Counters of {@link DegradedAnnouncements}. */
export interface DegradedAnnouncementsStats {
  /** KV operations that failed (each logged as a warning). */
  failures: number;
}

/**
 * Which checks have an open `check.degraded` at hooks, kept across restarts so a recovery that
 * happened while the control plane was down is still announced. Never rejects: a KV failure is
 * logged and counted, and hook publishing goes on without it.
 */
export interface DegradedAnnouncements {
  /** Records that `check.degraded` of `episode` was announced for the check at `at`. */
  mark(checkId: string, at: number, episode?: string): Promise<void>;
  /** Forgets the check (its `check.recovered` was announced, or it no longer exists). */
  clear(checkId: string): Promise<void>;
  /** Every marked check, read from KV (also refreshes {@link has}); `[]` when KV fails. */
  list(): Promise<DegradedMark[]>;
  /** Whether this replica knows the check as marked (from its own marks and the last {@link list}). */
  has(checkId: string): boolean;
  /** The episode of the check's mark as this replica knows it (see {@link has}); undefined when none. */
  episode(checkId: string): string | undefined;
  readonly stats: DegradedAnnouncementsStats;
}

/**
 * Opens (creating if needed) the {@link DEGRADED_BUCKET} bucket: history 1, file storage. Its keys are
 * listed without a consumer (a re-announcement after a takeover must not wait on one placed on a dead
 * NATS node).
 */
export function openDegradedBucket(nc: NatsConnection, replicas = 1): Promise<DegradedBucket> {
  return openConsumerFreeKv(nc, DEGRADED_BUCKET, { history: 1, storage: StorageType.File, replicas });
}

/** Creates the {@link DegradedAnnouncements} on the bucket `open()` resolves (opened once, retried after a failure). */
export function createDegradedAnnouncements({
  open,
  log,
}: {
  open: () => Promise<DegradedBucket>;
  log: Logger;
}): DegradedAnnouncements {
  const dlog = log.child({ component: "degraded-announcements" });
  const stats: DegradedAnnouncementsStats = { failures: 0 };
  // Mirror of the bucket for this replica: the live path must decide without waiting for NATS.
  const known = new Map<string, DegradedMark>();
  const kv = openOnce(open);
  function failed(what: string, checkId: string | undefined, err: unknown): void {
    stats.failures++;
    dlog.warn(
      { err: err instanceof Error ? err.message : String(err), ...(checkId ? { checkId } : {}) },
      `${what} in NATS KV failed; going on without it`,
    );
  }

  return {
    async mark(checkId, at, episode) {
      known.set(checkId, { checkId, at, ...(episode ? { episode } : {}) });
      try {
        await (await kv()).put(checkKey(checkId), JSON.stringify({ at, ...(episode ? { episode } : {}) }));
      } catch (err) {
        failed("marking a degraded announcement", checkId, err);
      }
    },
    async clear(checkId) {
      known.delete(checkId);
      try {
        await (await kv()).delete(checkKey(checkId));
      } catch (err) {
        failed("clearing a degraded announcement", checkId, err);
      }
    },
    async list() {
      try {
        const store = await kv();
        const keys: string[] = [];
        for await (const k of await store.keys()) keys.push(k);
        const marks: DegradedMark[] = [];
        for (const key of keys.sort()) {
          const checkId = checkIdFromKey(key);
          const entry = await store.get(key);
          if (!checkId || !entry || entry.operation !== "PUT") continue;
          let at = 0;
          let episode: string | undefined;
          try {
            const parsed = JSON.parse(entry.string()) as { at?: unknown; episode?: unknown };
            if (typeof parsed.at === "number" && Number.isFinite(parsed.at)) at = parsed.at;
            if (typeof parsed.episode === "string" && parsed.episode !== "") episode = parsed.episode;
          } catch {
            // A malformed value still says the check was marked; only its time and episode are lost.
          }
          marks.push({ checkId, at, ...(episode ? { episode } : {}) });
        }
        for (const m of marks) known.set(m.checkId, m);
        return marks;
      } catch (err) {
        failed("listing degraded announcements", undefined, err);
        return [];
      }
    },
    has: (checkId) => known.has(checkId),
    episode: (checkId) => known.get(checkId)?.episode,
    stats,
  };
}
