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
 * or `{"error"}` when the owner failed. A bulk reply never exceeds the server's max_payload: it holds
 * the first statuses that fit, in request order, with `"more": true` when it stopped early (the
 * caller asks again for the rest), and lists in `"oversized"` the checks whose status alone would not fit.
 */
interface StatusReply {
  status?: CheckStatus | null;
  statuses?: Record<string, CheckStatus | null>;
  more?: boolean;
  oversized?: string[];
  error?: string;
}

/** Bytes kept free in a reply for its envelope (`{"statuses":{…},"more":true}`). */
const REPLY_ENVELOPE_BYTES = 64;
/** NATS's default max_payload, when the server did not say. */
const DEFAULT_MAX_PAYLOAD = 1_048_576;

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
  /** Bulk replies cut short to fit max_payload (the caller asked again for the rest). */
  paged: number;
  /** Statuses that alone exceed max_payload: not sent (the check shows unknown, with the reason). */
  oversized: number;
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
  maxReplyBytes,
}: {
  nc: NatsConnection;
  leases: PartitionLeases;
  /** The local status of a check of an owned partition (its partition's consensus engine). */
  status: (checkId: string) => CheckStatus | undefined | Promise<CheckStatus | undefined>;
  log: Logger;
  /** Largest reply in bytes. @default the server's max_payload (1 MiB when it did not say) */
  maxReplyBytes?: number;
}): StatusServer {
  const slog = log.child({ component: "status-forwarding" });
  const subs = new Map<number, Subscription>();
  const stats: StatusServerStats = { answered: 0, notOwner: 0, malformed: 0, failed: 0, paged: 0, oversized: 0 };
  const limit = () => maxReplyBytes ?? nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;

  function tooLarge(partition: number, checkId: string, bytes: number): void {
    stats.oversized++;
    slog.warn(
      { partition, checkId, bytes, maxPayload: limit(), oversized: stats.oversized },
      "a check's status is larger than NATS max_payload: not forwarded",
    );
  }

  /** The bulk reply: as many statuses as fit in the limit, in request order. */
  async function bulkReply(partition: number, ids: readonly string[]): Promise<string> {
    const budget = limit() - REPLY_ENVELOPE_BYTES;
    const entries: string[] = [];
    const oversized: string[] = [];
    let bytes = 0;
    let more = false;
    for (const id of ids) {
      const entry = `${JSON.stringify(id)}:${JSON.stringify((await status(id)) ?? null)}`;
      const size = Buffer.byteLength(entry) + 1;
      // A status that alone would not fit is named in `oversized` instead, so every page moves on.
      const fits = size <= budget;
      const cost = fits ? size : Buffer.byteLength(JSON.stringify(id)) + 1;
      if (bytes + cost > budget) {
        more = true;
        break;
      }
      if (fits) entries.push(entry);
      else {
        tooLarge(partition, id, size);
        oversized.push(id);
      }
      bytes += cost;
    }
    if (more) stats.paged++;
    return `{"statuses":{${entries.join(",")}}${oversized.length > 0 ? `,"oversized":${JSON.stringify(oversized)}` : ""}${more ? ',"more":true' : ""}}`;
  }

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
    let reply: string;
    try {
      if (bulk) reply = await bulkReply(partition, bulk);
      else {
        const id = checkId as string;
        reply = JSON.stringify({ status: (await status(id)) ?? null } satisfies StatusReply);
        const bytes = Buffer.byteLength(reply);
        if (bytes > limit()) {
          tooLarge(partition, id, bytes);
          reply = JSON.stringify({
            error: `the status of ${JSON.stringify(id)} is ${bytes} bytes, more than NATS max_payload (${limit()})`,
          } satisfies StatusReply);
        }
      }
      stats.answered++;
    } catch (err) {
      stats.failed++;
      const message = err instanceof Error ? err.message : String(err);
      slog.warn({ partition, checkId, checks: bulk?.length, err: message }, "status lookup failed");
      reply = JSON.stringify({ error: message } satisfies StatusReply);
    }
    m.respond(reply);
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

/** What the owner of a partition answered for many of its checks. */
export interface PartitionStatuses {
  /** Each answered check's status (null: nothing known of it). */
  statuses: Record<string, CheckStatus | null>;
  /** Checks whose status alone is larger than NATS max_payload (not sent; counted by the owner). */
  oversized: string[];
}

/** The statuses of many checks of one partition; throws when its owner does not answer. */
export type PartitionStatusLookup = (partition: number, checkIds: readonly string[]) => Promise<PartitionStatuses>;

/**
 * The caller side of bulk status: asks the owner of `partition` for its checks' statuses, in requests
 * of at most {@link MAX_BULK_STATUS_IDS} ids sent together. A reply cut short to fit max_payload
 * (`more`) is followed by a request for the ids it did not cover, so at most one request per id.
 * Throws when a request is not answered within `timeoutMs`, or a reply covers none of its ids.
 */
export function forwardedStatuses({
  nc,
  timeoutMs = 1000,
}: {
  nc: NatsConnection;
  /** How long to wait for the owner, per request. @default 1000 */
  timeoutMs?: number;
}): PartitionStatusLookup {
  async function page(partition: number, ids: readonly string[], into: PartitionStatuses): Promise<void> {
    let rest = ids;
    while (rest.length > 0) {
      const m = await nc.request(statusSubject(partition), JSON.stringify({ checkIds: rest }), { timeout: timeoutMs });
      const reply = m.json<StatusReply>();
      if (typeof reply !== "object" || reply === null || typeof reply.statuses !== "object" || !reply.statuses)
        throw new UnavailableError(
          `the owner of partition ${partition} failed: ${typeof reply?.error === "string" ? reply.error : "malformed reply"}`,
        );
      const { statuses } = reply;
      const oversized = new Set(Array.isArray(reply.oversized) ? reply.oversized : []);
      const covered = (id: string) => Object.hasOwn(statuses, id) || oversized.has(id);
      const left = rest.filter((id) => !covered(id));
      if (left.length === rest.length || (left.length > 0 && reply.more !== true))
        throw new UnavailableError(`the owner of partition ${partition} failed: its reply left checks out`);
      for (const id of rest) {
        if (Object.hasOwn(statuses, id)) into.statuses[id] = statuses[id] ?? null;
        else if (oversized.has(id)) into.oversized.push(id);
      }
      rest = left;
    }
  }

  return async (partition, checkIds) => {
    const got: PartitionStatuses = { statuses: {}, oversized: [] };
    const chunks: string[][] = [];
    for (let i = 0; i < checkIds.length; i += MAX_BULK_STATUS_IDS)
      chunks.push(checkIds.slice(i, i + MAX_BULK_STATUS_IDS));
    await Promise.all(chunks.map((ids) => page(partition, ids, got)));
    return got;
  };
}

/** What {@link allStatuses} found: every asked check's status (undefined: nothing known) and the partitions nobody answered for. */
export interface AllStatuses {
  statuses: Map<string, CheckStatus | undefined>;
  unavailablePartitions: number[];
  /** Checks whose status is larger than NATS max_payload: their owner could not send it (left out of `statuses`). @default none */
  oversized?: string[];
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
  const oversized: string[] = [];
  await Promise.all(
    [...byPartition].map(async ([p, ids]) => {
      try {
        const got = await forwarded(p, ids);
        const tooLarge = new Set(got.oversized);
        for (const id of ids) if (!tooLarge.has(id)) statuses.set(id, got.statuses[id] ?? undefined);
        oversized.push(...got.oversized);
      } catch {
        unavailablePartitions.push(p);
      }
    }),
  );
  return { statuses, unavailablePartitions: unavailablePartitions.sort((a, b) => a - b), oversized: oversized.sort() };
}
