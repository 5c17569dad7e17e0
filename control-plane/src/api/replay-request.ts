import { z } from "@hono/zod-openapi";
import { isSubjectToken } from "@probemesh/proto";
import { normalizePolicy, parseQuorum } from "../consensus/policy.js";
import type { CheckPolicy } from "../consensus/types.js";
import { Problems } from "../checks/problems.js";
import { zodProblems } from "../schemas/issues.js";
import { MAX_EPOCH_MS } from "./query-params.js";

const DAY = 86_400_000;

/** A strict object whose type error reads `notObject`. */
function strict<S extends z.ZodRawShape>(shape: S, notObject: string) {
  return z.strictObject(shape, { error: (iss) => (iss.code === "invalid_type" ? notObject : undefined) });
}

const unknownKey = (_key: string, known: readonly string[]) => `unknown field (known: ${known.join(", ")})`;

const epochMs = z
  .number({ error: "must be a time in epoch milliseconds" })
  .int({ error: "must be a time in epoch milliseconds" })
  .min(0, { error: "must be a time in epoch milliseconds" })
  .max(MAX_EPOCH_MS, { error: "must be a time in epoch milliseconds" })
  .optional();

const threshold = z
  .int({ error: "must be an integer between 1 and 100" })
  .min(1, { error: "must be an integer between 1 and 100" })
  .max(100, { error: "must be an integer between 1 and 100" })
  .optional();

const QUORUM_MESSAGE = 'must be "majority", "all", "any" or a positive integer';

/** The body of POST /v1/checks/{id}/replay: a window (default the last day) and policy overrides. */
export const ReplayRequest = strict(
  {
    from: epochMs.openapi({ description: "epoch ms; default one day before `to`" }),
    to: epochMs.openapi({ description: "epoch ms; default now" }),
    policy: strict(
      {
        failureThreshold: threshold,
        recoveryThreshold: threshold,
        quorum: z
          .union([z.string(), z.number()], { error: QUORUM_MESSAGE })
          .refine((v) => v !== "" && parseQuorum(v) !== undefined, { error: QUORUM_MESSAGE })
          .optional()
          .openapi({ example: "all" }),
        regions: z
          .array(z.string(), { error: "must be a list of distinct region names" })
          .refine((r) => r.every(isSubjectToken) && new Set(r).size === r.length, {
            error: "must be a list of distinct region names",
          })
          .optional(),
      },
      "must be an object",
    )
      .optional()
      .openapi({ description: "overrides of the check's current consensus policy" }),
  },
  "must be a JSON object",
).openapi("ReplayRequest", { example: { from: 1767139200000, to: 1767225600000, policy: { failureThreshold: 3 } } });

/**
 * Validates a replay request against the current policy; every problem (the body's and the window's)
 * is listed at once. `maxWindowMs` bounds `to - from`.
 */
export function parseReplayRequest(
  body: unknown,
  current: CheckPolicy,
  now: number,
  maxWindowMs: number,
): { from: number; to: number; policy: CheckPolicy } {
  const parsed = ReplayRequest.safeParse(body);
  const problems = new Problems();
  if (!parsed.success)
    for (const p of zodProblems(parsed.error, ReplayRequest, { unknownKey })) problems.add(p.field, p.message);
  const raw = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const valid = (key: "from" | "to") => epochMs.safeParse(raw[key]);
  const toOk = valid("to");
  const fromOk = valid("from");
  const to = (toOk.success ? toOk.data : undefined) ?? now;
  const from = (fromOk.success ? fromOk.data : undefined) ?? to - DAY;
  if (from >= to) problems.add("from", "must be before to");
  else if (to - from > maxWindowMs) problems.add("from", `window longer than ${maxWindowMs} ms`);
  problems.throwIfAny("replay request");
  const policy = parsed.success ? (parsed.data.policy ?? {}) : {};
  const overrides: Partial<CheckPolicy> = {
    ...(policy.failureThreshold !== undefined ? { failureThreshold: policy.failureThreshold } : {}),
    ...(policy.recoveryThreshold !== undefined ? { recoveryThreshold: policy.recoveryThreshold } : {}),
    ...(policy.quorum !== undefined ? { quorum: parseQuorum(policy.quorum) } : {}),
    ...(policy.regions !== undefined ? { regions: policy.regions } : {}),
  };
  return { from, to, policy: normalizePolicy({ ...current, ...overrides }) };
}
