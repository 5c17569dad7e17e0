// Which stored rows belong to one identity of a check. Rows (results, incidents, rollups) stored
// while a check had no uid carry check_uid "". The registry later serves such a check with
// legacyUid(id, createdAt); that identity is the uid-less check, so its "" rows are its history.
// Any other identity of the id (created after uids, random uid) is a different check and never
// reads them.
import { legacyUid } from "../registry/legacy-uid.js";
import { ident, inList, sql, type Sql } from "./sql.js";

/**
 * True when `uid` is the identity of `checkId` born from a check stored before uids: its uid is
 * legacyUid(checkId, createdAt). An unknown `createdAt` is never.
 */
export function isLegacyIdentity(checkId: string, uid: string, createdAt: number | undefined): boolean {
  return uid !== "" && createdAt !== undefined && uid === legacyUid(checkId, createdAt);
}

/**
 * The `check_uid` values the rows of one identity of `checkId` (its `uid`, the check created at
 * `createdAt`, epoch ms) may carry: its uid, and "" (rows stored before the check had a uid) when it
 * is the identity born from a check stored before uids ({@link isLegacyIdentity}).
 */
export function rowUidsOf(checkId: string, uid: string, createdAt: number | undefined): readonly string[] {
  return isLegacyIdentity(checkId, uid, createdAt) ? [uid, ""] : [uid];
}

/**
 * The SQL condition "`column` is one of `uids`" (the uids {@link rowUidsOf} gives), every value
 * escaped; an empty list is a ValidationError. @default column = "check_uid"
 */
export function checkUidIn(uids: readonly string[], column = "check_uid"): Sql {
  return sql`${ident(column)} IN ${inList(uids, "checkUids")}`;
}
