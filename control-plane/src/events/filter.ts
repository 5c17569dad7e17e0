// The filters GET /v1/status and GET /v1/events share: state, labels (all must match) and region.
import { z } from "@hono/zod-openapi";
import { labelKey, labelValue, subjectToken } from "../checks/rules.js";
import type { GlobalState } from "../consensus/types.js";

/** Global states a `state` filter may name. */
export const GLOBAL_STATES: readonly GlobalState[] = ["up", "degraded", "partial", "down", "unknown"];

/** A parsed filter: undefined fields match everything. */
export interface CheckFilter {
  /** Global states to keep. */
  states?: ReadonlySet<GlobalState>;
  /** Labels a check must all carry with these values. */
  labels?: Readonly<Record<string, string>>;
  /** Only checks probed from this region (a check listing no region is probed from every one). */
  region?: string;
}

/** What a filter looks at in a check. */
export interface FilteredCheck {
  labels?: Readonly<Record<string, string>>;
  /** Regions the check runs in; empty = every region. */
  regions: readonly string[];
}

/** True when the check's labels and regions pass `f` (the state is judged apart: {@link stateMatches}). */
export function checkMatches(check: FilteredCheck, f: CheckFilter): boolean {
  if (f.labels) for (const [k, v] of Object.entries(f.labels)) if (check.labels?.[k] !== v) return false;
  if (f.region !== undefined && check.regions.length > 0 && !check.regions.includes(f.region)) return false;
  return true;
}

/** True when `state` passes the filter's states. */
export function stateMatches(state: string, f: CheckFilter): boolean {
  return !f.states || f.states.has(state as GlobalState);
}

/** `regions` cut to the filter's region (all of them without one). */
export function trimRegions<T>(regions: Readonly<Record<string, T>>, f: CheckFilter): Record<string, T> {
  if (f.region === undefined) return { ...regions };
  const r = regions[f.region];
  return r === undefined ? {} : { [f.region]: r };
}

/** A query parameter that may be repeated: always a list. */
const repeatable = (message: string, item: (v: string) => string | undefined) =>
  z
    .union([z.string(), z.array(z.string())], { error: message })
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .superRefine((list, ctx) => {
      for (const v of list) {
        const problem = item(v);
        if (problem) ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)}: ${problem}` });
      }
    });

const STATE_MESSAGE = `must be ${GLOBAL_STATES.join(", ")} or a comma-separated list of them (repeatable)`;

/** The query parameters of the shared filter (spread into a `strictQuery`). */
export const filterQueryShape = {
  state: repeatable(STATE_MESSAGE, (v) =>
    v.split(",").every((s) => (GLOBAL_STATES as readonly string[]).includes(s)) ? undefined : STATE_MESSAGE,
  ).openapi({
    type: "array",
    items: { type: "string" },
    description: `${GLOBAL_STATES.join(" | ")}; repeatable or comma-separated`,
    example: ["down", "partial"],
  }),
  label: repeatable("must be key=value (repeatable)", (v) => {
    const i = v.indexOf("=");
    if (i < 0) return "must be key=value";
    return labelKey(v.slice(0, i)) ?? labelValue(v.slice(i + 1));
  }).openapi({
    type: "array",
    items: { type: "string" },
    description: "key=value; repeatable, every one must match",
    example: ["team=web"],
  }),
  region: z
    .string({ error: (iss) => (Array.isArray(iss.input) ? "must be given at most once" : "must be a region") })
    .refine((v) => subjectToken(v) === undefined, "must be a region name")
    .optional()
    .openapi({
      type: "string",
      description: "only checks probed from this region; `regions` cut to it",
      example: "eu-west",
    }),
};

/** The filter of a parsed query holding {@link filterQueryShape}'s parameters. */
export function filterFromQuery(q: { state: string[]; label: string[]; region?: string | undefined }): CheckFilter {
  const f: CheckFilter = {};
  if (q.state.length > 0) f.states = new Set(q.state.flatMap((s) => s.split(",")) as GlobalState[]);
  if (q.label.length > 0) {
    const labels: Record<string, string> = {};
    for (const l of q.label) {
      const i = l.indexOf("=");
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    f.labels = labels;
  }
  if (q.region !== undefined) f.region = q.region;
  return f;
}
