// The API answers on any replica: a check's live status is held by the replica that owns its
// partition, so the others ask that owner over NATS request/reply.
import { RequestError, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { CheckStatus } from "../consensus/types.js";
import { UnavailableError } from "../errors.js";
import type { PartitionLeases } from "./types.js";

/** Subject prefix of status requests; full subject `probemesh.control.status.<partition>`. */
export const STATUS_SUBJECT_PREFIX = "probemesh.control.status";

/** The subject the owner of `partition` answers status requests on. */
export function statusSubject(partition: number): string {
  return `${STATUS_SUBJECT_PREFIX}.${partition}`;
}

/** The status of one check, wherever its partition is owned; undefined when nothing is known of it. */
export type StatusLookup = (checkId: string) => Promise<CheckStatus | undefined>;

/**
 * A request: `{"checkId"}`, or `{"checkIds": [...]}` for many checks of the partition at once (GET
 * /v1/status). A reply: `{"status": CheckStatus | null}`, `{"statuses": {<checkId>: CheckStatus | null}}`,
 * or `{"error"}` when the owner failed.
 */
interface StatusReply {
  status?: CheckStatus | null;
  statuses?: Record<string, CheckStatus | null>;
  error?: string;
}

/** Most check ids one bulk status request names (callers split larger partitions). */
export const MAX_BULK_STATUS_IDS = 200;

const validCheckId = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 256;

/** Counters of {@link serveStatus}. */
export interface StatusServerStats {
  /** Requests answered. */
  answered: number;
  /** Requests left unanswered because the lease was no longer valid (another replica answers). */
  notOwner: number;
  /** Requests that were not `{"checkId": string}`. */
  malformed: number;
  /** Requests whose status lookup threw (answered with an error). */
  failed: number;
}

/** The owner side of status forwarding. */
export interface StatusServer {
  readonly stats: StatusServerStats;
  /** Partitions whose status requests this replica listens to now. */
  serving(): number[];
  /** Stops listening on every partition and following the leases. */
  stop(): void;
}

/**
 * Answers status requests for every partition this replica holds: subscribes to
 * `probemesh.control.status.<p>` when p is acquired, unsubscribes when it is lost, and stays silent
 * while its lease is not valid (so that only the current owner answers).
 */
export function serveStatus({
  nc,
  leases,
  status,
  log,
}: {
  nc: NatsConnection;
  leases: PartitionLeases;
  /** The local status of a check of an owned partition (its partition's consensus engine). */
  status: (checkId: string) => CheckStatus | undefined | Promise<CheckStatus | undefined>;
  log: Logger;
}): StatusServer {
  const slog = log.child({ component: "status-forwarding" });
  const subs = new Map<number, Subscription>();
  const stats: StatusServerStats = { answered: 0, notOwner: 0, malformed: 0, failed: 0 };

  async function answer(partition: number, m: Msg): Promise<void> {
    let req: { checkId?: unknown; checkIds?: unknown } = {};
    try {
      req = m.json<typeof req>() ?? {};
    } catch {
      req = {};
    }
    const { checkId, checkIds } = req;
    const bulk =
      Array.isArray(checkIds) && checkIds.length <= MAX_BULK_STATUS_IDS && checkIds.every(validCheckId)
        ? checkIds
        : undefined;
    if (!validCheckId(checkId) && !bulk) {
      stats.malformed++;
      m.respond(
        JSON.stringify({
          error: `request must be {"checkId": string} or {"checkIds": string[]} (at most ${MAX_BULK_STATUS_IDS})`,
        } satisfies StatusReply),
      );
      return;
    }
    if (!leases.holds(partition)) {
      stats.notOwner++;
      return;
    }
    let reply: StatusReply;
    try {
      if (bulk) {
        const statuses: Record<string, CheckStatus | null> = {};
        for (const id of bulk) statuses[id] = (await status(id)) ?? null;
        reply = { statuses };
      } else reply = { status: (await status(checkId as string)) ?? null };
      stats.answered++;
    } catch (err) {
      stats.failed++;
      const message = err instanceof Error ? err.message : String(err);
      slog.warn({ partition, checkId, checks: bulk?.length, err: message }, "status lookup failed");
      reply = { error: message };
    }
    m.respond(JSON.stringify(reply));
  }

  function listen(partition: number): void {
    if (subs.has(partition)) return;
    const sub = nc.subscribe(statusSubject(partition), {
      callback: (err, m) => {
        if (err) {
          slog.warn({ partition, err: err.message }, "status subscription failed");
          return;
        }
        answer(partition, m).catch((e: unknown) =>
          slog.warn(
            { partition, err: e instanceof Error ? e.message : String(e) },
            "could not answer a status request",
          ),
        );
      },
    });
    subs.set(partition, sub);
    slog.debug({ partition }, "serving status");
  }

  function forget(partition: number): void {
    const sub = subs.get(partition);
    subs.delete(partition);
    if (sub && !sub.isClosed()) sub.unsubscribe();
  }

  const offAcquired = leases.onAcquired((l) => listen(l.partition));
  const offLost = leases.onLost((l) => forget(l.partition));
  for (const l of leases.owned()) listen(l.partition);

  return {
    stats,
    serving: () => [...subs.keys()].sort((a, b) => a - b),
    stop() {
      offAcquired();
      offLost();
      for (const p of [...subs.keys()]) forget(p);
    },
  };
}

/**
 * The caller side: asks the owner of the check's partition for its status. Throws UnavailableError
 * (HTTP 503) when nobody owns the partition or the owner does not answer within `timeoutMs`.
 */
export function forwardedStatus({
  nc,
  partitionOf,
  timeoutMs = 2000,
}: {
  nc: NatsConnection;
  /** The partition of a check (`partitionOf(check.uid, P)`), undefined for an unknown check. */
  partitionOf: (checkId: string) => number | undefined | Promise<number | undefined>;
  /** How long to wait for the owner. @default 2000 */
  timeoutMs?: number;
}): StatusLookup {
  return async (checkId) => {
    const partition = await partitionOf(checkId);
    if (partition === undefined) return undefined;
    const what = `status of check ${JSON.stringify(checkId)} (partition ${partition})`;
    let m: Msg;
    try {
      m = await nc.request(statusSubject(partition), JSON.stringify({ checkId }), { timeout: timeoutMs });
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders())
        throw new UnavailableError(`${what} unavailable: no control-plane replica owns partition ${partition} now`, {
          cause: err,
        });
      const reason = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(
        `${what} unavailable: the owner of partition ${partition} did not answer within ${timeoutMs} ms (${reason})`,
        { cause: err },
      );
    }
    let reply: StatusReply;
    try {
      reply = m.json<StatusReply>();
    } catch (err) {
      throw new UnavailableError(`${what} unavailable: the owner's reply is not JSON`, { cause: err });
    }
    if (typeof reply !== "object" || reply === null || !("status" in reply)) {
      const detail = typeof reply?.error === "string" ? reply.error : "malformed reply";
      throw new UnavailableError(`${what} unavailable: the owner of partition ${partition} failed: ${detail}`);
    }
    return reply.status ?? undefined;
  };
}

/**
 * The status the API shows: local when this replica holds the check's partition, forwarded to the
 * owner otherwise.
 */
export function localOrForwarded({
  leases,
  partitionOf,
  local,
  forwarded,
}: {
  leases: Pick<PartitionLeases, "holds">;
  partitionOf: (checkId: string) => number | undefined | Promise<number | undefined>;
  local: (checkId: string) => CheckStatus | undefined | Promise<CheckStatus | undefined>;
  forwarded: StatusLookup;
}): StatusLookup {
  return async (checkId) => {
    const partition = await partitionOf(checkId);
    if (partition === undefined || leases.holds(partition)) return local(checkId);
    return forwarded(checkId);
  };
}

/** The statuses of many checks of one partition (null: nothing known of it); throws when its owner does not answer. */
export type PartitionStatusLookup = (
  partition: number,
  checkIds: readonly string[],
) => Promise<Record<string, CheckStatus | null>>;

/**
 * The caller side of bulk status: asks the owner of `partition` for its checks' statuses, in requests
 * of at most {@link MAX_BULK_STATUS_IDS} ids sent together. Throws when any is not answered within `timeoutMs`.
 */
export function forwardedStatuses({
  nc,
  timeoutMs = 1000,
}: {
  nc: NatsConnection;
  /** How long to wait for the owner. @default 1000 */
  timeoutMs?: number;
}): PartitionStatusLookup {
  return async (partition, checkIds) => {
    const chunks: string[][] = [];
    for (let i = 0; i < checkIds.length; i += MAX_BULK_STATUS_IDS)
      chunks.push(checkIds.slice(i, i + MAX_BULK_STATUS_IDS));
    const replies = await Promise.all(
      chunks.map(async (ids) => {
        const m = await nc.request(statusSubject(partition), JSON.stringify({ checkIds: ids }), { timeout: timeoutMs });
        const reply = m.json<StatusReply>();
        if (typeof reply !== "object" || reply === null || typeof reply.statuses !== "object" || !reply.statuses)
          throw new UnavailableError(
            `the owner of partition ${partition} failed: ${typeof reply?.error === "string" ? reply.error : "malformed reply"}`,
          );
        return reply.statuses;
      }),
    );
    return Object.assign({}, ...replies) as Record<string, CheckStatus | null>;
  };
}

/** What {@link allStatuses} found: every asked check's status (undefined: nothing known) and the partitions nobody answered for. */
export interface AllStatuses {
  statuses: Map<string, CheckStatus | undefined>;
  unavailablePartitions: number[];
}

/**
 * The statuses of many checks, one bulk request per partition in parallel: local for the partitions
 * this replica holds, from their owners otherwise. A partition whose owner does not answer is listed
 * in `unavailablePartitions` (its checks are left out of `statuses`), never an error for the whole.
 */
export async function allStatuses(
  checkIds: readonly string[],
  {
    leases,
    partitionOf,
    local,
    forwarded,
  }: {
    leases: Pick<PartitionLeases, "holds">;
    partitionOf: (checkId: string) => number | undefined;
    local: (checkId: string) => CheckStatus | undefined;
    forwarded: PartitionStatusLookup;
  },
): Promise<AllStatuses> {
  const statuses = new Map<string, CheckStatus | undefined>();
  const byPartition = new Map<number, string[]>();
  for (const id of checkIds) {
    const p = partitionOf(id);
    if (p === undefined) statuses.set(id, undefined);
    else if (leases.holds(p)) statuses.set(id, local(id));
    else byPartition.set(p, [...(byPartition.get(p) ?? []), id]);
  }
  const unavailablePartitions: number[] = [];
  await Promise.all(
    [...byPartition].map(async ([p, ids]) => {
      try {
        const got = await forwarded(p, ids);
        for (const id of ids) statuses.set(id, got[id] ?? undefined);
      } catch {
        unavailablePartitions.push(p);
      }
    }),
  );
  return { statuses, unavailablePartitions: unavailablePartitions.sort((a, b) => a - b) };
}
