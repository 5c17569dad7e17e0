// The uids a check id has had (migration 003): written when a check is created and when it is
// deleted, so a deleted check's history stays findable by id until retention drops its rows.
import type { ClickHouseClient } from "@clickhouse/client";
import type { Logger } from "pino";
import { UnavailableError } from "../errors.js";
import { sql } from "./sql.js";

/** One identity of a check id. Times are epoch ms. */
export interface CheckIdentity {
  checkId: string;
  uid: string;
  type: string;
  /** What it probed (URL, host:port, DNS name...). */
  target: string;
  createdAt: number;
  /** When it was deleted; null while it lives (or when its deletion was not recorded). */
  deletedAt: number | null;
}

/** Persistence of {@link CheckIdentity} records. */
export interface CheckIdentityStore {
  /**
   * Records an identity as it is at `at` (epoch ms; the newest record of a uid wins: a later one
   * with `deletedAt` marks it deleted). @default at = the later of createdAt and deletedAt
   */
  record(identity: CheckIdentity, at?: number): Promise<void>;
  /** Every identity recorded for `checkId`, newest first. */
  list(checkId: string): Promise<CheckIdentity[]>;
}

const num = (v: unknown): number => {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
};
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

/** Creates the identity store over the store's @clickhouse/client instance (bound to the probemesh database). */
export function createCheckIdentityStore(deps: {
  client: Pick<ClickHouseClient, "query" | "insert">;
  log: Logger;
}): CheckIdentityStore {
  const { client } = deps;
  const log = deps.log.child({ component: "check-identities" });
  return {
    async record(identity, at) {
      const deletedAt = identity.deletedAt ?? 0;
      const row = {
        check_id: identity.checkId,
        check_uid: identity.uid,
        type: identity.type,
        target: identity.target,
        created_at: identity.createdAt,
        deleted_at: deletedAt,
        // The deletion record outranks the creation and replacement records.
        version: Math.max(identity.createdAt, deletedAt, at ?? 0),
      };
      try {
        await client.insert({ table: "check_identities", values: [row], format: "JSONEachRow" });
      } catch (err) {
        throw new UnavailableError(`recording the identity of check ${identity.checkId} failed`, { cause: err });
      }
      log.debug({ checkId: identity.checkId, uid: identity.uid, deletedAt }, "check identity recorded");
    },

    async list(checkId) {
      const statement = sql`SELECT check_uid,
          argMax(type, version) AS i_type, argMax(target, version) AS i_target,
          argMax(created_at, version) AS i_created_at, argMax(deleted_at, version) AS i_deleted_at
        FROM check_identities WHERE check_id = ${checkId}
        GROUP BY check_uid ORDER BY i_created_at DESC, check_uid`;
      let rows: Record<string, unknown>[];
      try {
        const rs = await client.query({ query: statement.text, format: "JSONEachRow" });
        rows = await rs.json<Record<string, unknown>>();
      } catch (err) {
        throw new UnavailableError(`ClickHouse query failed: ${(err as Error).message}`, { cause: err });
      }
      return rows.map((r) => ({
        checkId,
        uid: str(r.check_uid),
        type: str(r.i_type),
        target: str(r.i_target),
        createdAt: num(r.i_created_at),
        deletedAt: num(r.i_deleted_at) > 0 ? num(r.i_deleted_at) : null,
      }));
    },
  };
}
