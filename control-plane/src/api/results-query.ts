import { isSubjectToken } from "@probemesh/proto";
import { Problems } from "../checks/problems.js";
import type { ResultQuery } from "../store/types.js";
import { epochParam, integerParam, strictParams } from "./query-params.js";

/** Results returned when no limit is given. @default 100 */
export const DEFAULT_RESULTS_LIMIT = 100;
/** Largest accepted limit. */
export const MAX_RESULTS_LIMIT = 10_000;
/** Window when no `from` is given: one hour before `to`. @default 3600000 */
export const DEFAULT_RESULTS_WINDOW_MS = 3_600_000;

const KNOWN = ["from", "to", "region", "limit"];

/**
 * Parses `?from=&to=&region=&limit=` strictly (epoch ms as plain digits, `to` exclusive, limit
 * 1..10000); every problem is listed in one ValidationError. Nothing unchecked reaches SQL.
 */
export function parseResultsQuery(params: URLSearchParams, checkId: string, now: number): ResultQuery {
  const problems = new Problems();
  strictParams(params, KNOWN, problems);
  const to = epochParam(params, "to", problems) ?? now;
  const from = epochParam(params, "from", problems) ?? Math.max(0, to - DEFAULT_RESULTS_WINDOW_MS);
  if (from >= to && !problems.list.some((p) => p.field === "from" || p.field === "to")) {
    problems.add("from", "must be before to");
  }
  const region = params.get("region");
  if (region !== null && !isSubjectToken(region)) problems.add("region", "must be a region name (A-Z a-z 0-9 _ -)");
  const limit = integerParam(params, "limit", 1, MAX_RESULTS_LIMIT, problems) ?? DEFAULT_RESULTS_LIMIT;
  problems.throwIfAny("query");
  return { checkId, from, to, limit, ...(region !== null ? { region } : {}) };
}
