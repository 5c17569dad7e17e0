import { isSubjectToken } from "@probemesh/proto";
import { Problems } from "../checks/problems.js";
import type { ResultQuery } from "../store/types.js";

/** Results returned when no limit is given. @default 100 */
export const DEFAULT_RESULTS_LIMIT = 100;
/** Largest accepted limit. */
export const MAX_RESULTS_LIMIT = 10_000;
/** Window when no `from` is given: one hour before `to`. @default 3600000 */
export const DEFAULT_RESULTS_WINDOW_MS = 3_600_000;

// The largest epoch ms a JavaScript Date can hold; anything larger is not a time.
const MAX_EPOCH_MS = 8_640_000_000_000_000;
const KNOWN = new Set(["from", "to", "region", "limit"]);

/**
 * Parses `?from=&to=&region=&limit=` strictly (epoch ms as plain digits, `to` exclusive, limit
 * 1..10000); every problem is listed in one ValidationError. Nothing unchecked reaches SQL.
 */
export function parseResultsQuery(params: URLSearchParams, checkId: string, now: number): ResultQuery {
  const problems = new Problems();
  for (const key of new Set(params.keys())) {
    if (!KNOWN.has(key)) problems.add(key, "unknown query parameter (known: from, to, region, limit)");
    else if (params.getAll(key).length > 1) problems.add(key, "must be given at most once");
  }
  const epoch = (key: string): number | undefined => {
    const raw = params.get(key);
    if (raw === null) return undefined;
    if (!/^\d{1,16}$/.test(raw) || Number(raw) > MAX_EPOCH_MS) {
      problems.add(key, "must be a time in epoch milliseconds (digits only)");
      return undefined;
    }
    return Number(raw);
  };
  const to = epoch("to") ?? now;
  const from = epoch("from") ?? Math.max(0, to - DEFAULT_RESULTS_WINDOW_MS);
  if (from >= to && !problems.list.some((p) => p.field === "from" || p.field === "to")) {
    problems.add("from", "must be before to");
  }
  const region = params.get("region");
  if (region !== null && !isSubjectToken(region)) problems.add("region", "must be a region name (A-Z a-z 0-9 _ -)");
  let limit = DEFAULT_RESULTS_LIMIT;
  const rawLimit = params.get("limit");
  if (rawLimit !== null) {
    if (!/^\d{1,6}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > MAX_RESULTS_LIMIT) {
      problems.add("limit", `must be an integer between 1 and ${MAX_RESULTS_LIMIT}`);
    } else {
      limit = Number(rawLimit);
    }
  }
  problems.throwIfAny("query");
  return { checkId, from, to, limit, ...(region !== null ? { region } : {}) };
}
