import type { Problems } from "../checks/problems.js";

// Strict parsers for query parameters: every problem is added to `problems` (so a request lists
// them all in one 400), and nothing that is not plain digits within range comes back.

/** The largest epoch ms a JavaScript Date can hold; anything larger is not a time. */
export const MAX_EPOCH_MS = 8_640_000_000_000_000;

/** Flags unknown and repeated parameters. */
export function strictParams(params: URLSearchParams, known: readonly string[], problems: Problems): void {
  for (const key of new Set(params.keys())) {
    if (!known.includes(key)) problems.add(key, `unknown query parameter (known: ${known.join(", ")})`);
    else if (params.getAll(key).length > 1) problems.add(key, "must be given at most once");
  }
}

/** A time in epoch milliseconds, or undefined when absent or invalid (then a problem is added). */
export function epochParam(params: URLSearchParams, key: string, problems: Problems): number | undefined {
  const raw = params.get(key);
  if (raw === null) return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) > MAX_EPOCH_MS) {
    problems.add(key, "must be a time in epoch milliseconds (digits only)");
    return undefined;
  }
  return Number(raw);
}

/** An integer in [min, max], or undefined when absent or invalid (then a problem is added). */
export function integerParam(
  params: URLSearchParams,
  key: string,
  min: number,
  max: number,
  problems: Problems,
): number | undefined {
  const raw = params.get(key);
  if (raw === null) return undefined;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.add(key, `must be an integer between ${min} and ${max}`);
    return undefined;
  }
  return Number(raw);
}
