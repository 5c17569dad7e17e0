import { isSubjectToken } from "@probemesh/proto";
import { Hono, type MiddlewareHandler } from "hono";
import type { Logger } from "pino";
import { CHECK_ID_PATTERN } from "../checks/rules.js";
import { Problems } from "../checks/problems.js";
import { availability, DEFAULT_SLO_TARGET, type AvailabilityReport } from "../consensus/availability.js";
import type { ConsensusEngine } from "../consensus/engine.js";
import { normalizePolicy, parseQuorum, staleAfterMs } from "../consensus/policy.js";
import { replay } from "../consensus/replay.js";
import type { CheckPolicy, CheckStatus, IncidentKind, Outage, RegionStatus } from "../consensus/types.js";
import { NotFoundError, ValidationError } from "../errors.js";
import type { OutageStore, RegionCounts } from "../store/outages.js";
import { errorResponse } from "./error-response.js";
import { readJson } from "./read-json.js";
import { epochParam, integerParam, MAX_EPOCH_MS, strictParams } from "./query-params.js";
import { requireToken } from "./require-token.js";

/** Options of {@link createConsensusRoutes}. */
export interface ConsensusRoutesOptions {
  engine: Pick<ConsensusEngine, "status">;
  outageStore: Pick<OutageStore, "listOutages" | "resultCounts" | "loadObservations">;
  /** The current policy of a check from the registry, or undefined when there is no such check. */
  lookupCheck: (checkId: string) => Promise<CheckPolicy | undefined>;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** When set, POST /replay needs `Authorization: Bearer <token>` like every other write. */
  apiToken?: string;
  /** SLO target (percent) when the request does not give one. @default 99.9 */
  sloTarget?: number;
  /** Most results one replay loads; beyond it the replay stops early and says so. @default 500000 */
  maxReplayResults?: number;
  /** Longest replay window. @default 2678400000 (31 days) */
  maxReplayWindowMs?: number;
}

const WINDOWS: Record<string, number> = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};
const DAY = 86_400_000;

/**
 * Consensus API (hono sub-app): GET /v1/checks/:id/status, GET /v1/outages,
 * GET /v1/checks/:id/availability and POST /v1/checks/:id/replay. Times are epoch ms.
 */
export function createConsensusRoutes(opts: ConsensusRoutesOptions): Hono {
  const { engine, outageStore, lookupCheck } = opts;
  const log = opts.log.child({ component: "consensus-api" });
  const now = opts.now ?? Date.now;
  const defaultSlo = opts.sloTarget ?? DEFAULT_SLO_TARGET;
  const maxReplayResults = opts.maxReplayResults ?? 500_000;
  const maxReplayWindowMs = opts.maxReplayWindowMs ?? 31 * DAY;

  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err, log));

  async function knownCheck(id: string): Promise<CheckPolicy> {
    if (!CHECK_ID_PATTERN.test(id))
      throw new ValidationError(`invalid check id ${JSON.stringify(id)}`, { field: "id" });
    const policy = await lookupCheck(id);
    if (!policy) throw new NotFoundError("check", id);
    return policy;
  }

  app.get("/v1/checks/:id/status", async (c) => {
    const policy = await knownCheck(c.req.param("id"));
    return c.json(statusJson(engine.status(policy.checkId) ?? emptyStatus(policy)));
  });

  app.get("/v1/outages", async (c) => {
    const params = new URL(c.req.url).searchParams;
    const problems = new Problems();
    strictParams(params, ["checkId", "from", "to", "state", "kind", "limit"], problems);
    const checkId = params.get("checkId") ?? undefined;
    if (checkId !== undefined && !CHECK_ID_PATTERN.test(checkId)) problems.add("checkId", "must be a check id");
    const from = epochParam(params, "from", problems);
    const to = epochParam(params, "to", problems);
    if (from !== undefined && to !== undefined && from >= to) problems.add("from", "must be before to");
    const state = params.get("state") ?? undefined;
    if (state !== undefined && state !== "open" && state !== "resolved")
      problems.add("state", "must be open or resolved");
    let kinds: IncidentKind[] = ["outage", "partial"];
    const kindParam = params.get("kind");
    if (kindParam !== null) {
      const list = kindParam.split(",");
      if (list.some((k) => k !== "outage" && k !== "partial" && k !== "region"))
        problems.add("kind", "must be outage, partial, region or a comma-separated list of them");
      else kinds = [...new Set(list as IncidentKind[])];
    }
    const limit = integerParam(params, "limit", 1, 10_000, problems) ?? 1000;
    problems.throwIfAny("query");
    const list = await outageStore.listOutages({
      kinds,
      limit,
      ...(checkId !== undefined ? { checkId } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(state !== undefined ? { state: state as "open" | "resolved" } : {}),
    });
    return c.json(list.map(outageJson));
  });

  app.get("/v1/checks/:id/availability", async (c) => {
    const policy = await knownCheck(c.req.param("id"));
    const params = new URL(c.req.url).searchParams;
    const problems = new Problems();
    strictParams(params, ["from", "to", "window", "slo"], problems);
    const t = now();
    let from = epochParam(params, "from", problems);
    let to = epochParam(params, "to", problems);
    const window = params.get("window");
    if (window !== null) {
      if (from !== undefined || to !== undefined) problems.add("window", "give either window or from/to, not both");
      else if (!(window in WINDOWS)) problems.add("window", `must be one of ${Object.keys(WINDOWS).join(", ")}`);
    }
    to ??= t;
    from ??= to - (WINDOWS[window ?? "24h"] ?? WINDOWS["24h"]!);
    if (from >= to) problems.add("from", "must be before to");
    const slo = decimal(params, "slo", problems) ?? defaultSlo;
    problems.throwIfAny("query");
    from = Math.max(0, from);
    const [outages, regionIncidents, counts] = await Promise.all([
      outageStore.listOutages({ checkId: policy.checkId, from, to, kinds: ["outage"], limit: 10_000 }),
      outageStore.listOutages({ checkId: policy.checkId, from, to, kinds: ["region"], limit: 10_000 }),
      outageStore.resultCounts({ checkId: policy.checkId, from, to }),
    ]);
    const opts = { from, to, now: t, sloTarget: slo };
    const regionNames = new Set([
      ...policy.regions,
      ...counts.map((r) => r.region),
      ...regionIncidents.flatMap((o) => o.regions),
    ]);
    const regions: Record<string, AvailabilityReport & { results: ReturnType<typeof countsJson> }> = {};
    for (const name of [...regionNames].sort()) {
      const mine = regionIncidents.filter((o) => o.regions.includes(name)).map(interval);
      regions[name] = { ...availability(mine, opts), results: countsJson(counts.find((r) => r.region === name)) };
    }
    return c.json({ checkId: policy.checkId, ...availability(outages.map(interval), opts), regions });
  });

  // Replay changes nothing, but it is a POST that can read a month of results: it needs the token like writes.
  const guard: MiddlewareHandler =
    opts.apiToken !== undefined ? requireToken(opts.apiToken) : async (_c, next) => next();
  app.post("/v1/checks/:id/replay", guard, async (c) => {
    const current = await knownCheck(c.req.param("id"));
    const body = await readJson(c);
    const { from, to, policy } = parseReplayBody(body, current, now(), maxReplayWindowMs);
    // Enough history before `from` for the streaks and staleness that were in force at `from`.
    const warmUpMs =
      staleAfterMs(policy) + Math.max(policy.failureThreshold, policy.recoveryThreshold) * policy.intervalMs;
    const loaded = await outageStore.loadObservations({
      checkId: policy.checkId,
      from: Math.max(0, from - warmUpMs),
      to,
      limit: maxReplayResults,
    });
    const effectiveTo = loaded.truncated ? (loaded.observations.at(-1)?.startedAt ?? from) + 1 : to;
    const result = replay(loaded.observations, policy, { from, to: Math.max(effectiveTo, from + 1) });
    const declared = result.outages.filter((o) => o.kind !== "region");
    const stored = await outageStore.listOutages({
      checkId: policy.checkId,
      from,
      to: effectiveTo,
      kinds: ["outage", "partial"],
      limit: 10_000,
    });
    log.info(
      { checkId: policy.checkId, from, to: effectiveTo, results: result.results, outages: declared.length },
      "policy replayed",
    );
    return c.json({
      checkId: policy.checkId,
      from,
      to: effectiveTo,
      truncated: loaded.truncated,
      policy: policyJson(policy),
      currentPolicy: policyJson(current),
      results: result.results,
      outages: declared.map(outageJson),
      availability: availability(declared.filter((o) => o.kind === "outage").map(interval), {
        from,
        to: effectiveTo,
        now: effectiveTo,
        sloTarget: defaultSlo,
      }),
      stored: stored.map(outageJson),
    });
  });

  return app;
}

function interval(o: Outage): { start: number; end: number | null } {
  return { start: o.startedAt, end: o.resolvedAt };
}

/** An incident as the API shows it. */
export function outageJson(o: Outage): Outage {
  return {
    id: o.id,
    checkId: o.checkId,
    kind: o.kind,
    state: o.state,
    startedAt: o.startedAt,
    confirmedAt: o.confirmedAt,
    resolvedAt: o.resolvedAt,
    regions: o.regions,
    reason: o.reason,
  };
}

function countsJson(c: RegionCounts | undefined): {
  total: number;
  up: number;
  degraded: number;
  down: number;
  successRatio: number | null;
  avgDurationMs: number;
} {
  const total = c?.total ?? 0;
  return {
    total,
    up: c?.up ?? 0,
    degraded: c?.degraded ?? 0,
    down: c?.down ?? 0,
    successRatio: total > 0 ? ((c?.up ?? 0) + (c?.degraded ?? 0)) / total : null,
    avgDurationMs: c?.avgDurationMs ?? 0,
  };
}

function orNull(ms: number): number | null {
  return ms > 0 ? ms : null;
}

function statusJson(s: CheckStatus): unknown {
  const regions: Record<string, unknown> = {};
  for (const [name, r] of Object.entries(s.regions)) regions[name] = regionJson(r);
  return {
    checkId: s.checkId,
    state: s.state,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.missingRegions ? { missingRegions: s.missingRegions } : {}),
    since: orNull(s.since),
    regions,
    outage: s.outage ? outageJson(s.outage) : null,
  };
}

function regionJson(r: RegionStatus): unknown {
  return {
    state: r.state,
    since: orNull(r.since),
    lastResultAt: orNull(r.lastResultAt),
    impaired: r.impaired,
    ...(r.impaired ? { impairedReason: r.impairedReason } : {}),
    ...(r.lastReason ? { reason: r.lastReason } : {}),
    ...(r.error ? { error: r.error } : {}),
    agents: r.agents.map((a) => ({ ...a, lastResultAt: orNull(a.lastResultAt) })),
  };
}

function emptyStatus(policy: CheckPolicy): CheckStatus {
  const regions: Record<string, RegionStatus> = {};
  for (const name of policy.regions) {
    regions[name] = {
      state: "unknown",
      since: 0,
      lastResultAt: 0,
      impaired: false,
      impairedReason: "",
      lastReason: "",
      error: "",
      agents: [],
    };
  }
  return { checkId: policy.checkId, state: "unknown", reason: "", since: 0, regions, outage: null };
}

function policyJson(p: CheckPolicy): Record<string, unknown> {
  return {
    intervalMs: p.intervalMs,
    timeoutMs: p.timeoutMs,
    regions: [...p.regions],
    failureThreshold: p.failureThreshold,
    recoveryThreshold: p.recoveryThreshold,
    quorum: String(p.quorum),
  };
}

function decimal(params: URLSearchParams, key: string, problems: Problems): number | undefined {
  const raw = params.get(key);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^\d{1,3}(\.\d{1,6})?$/.test(raw) || n <= 0 || n > 100) {
    problems.add(key, "must be a percentage in (0, 100], e.g. 99.9");
    return undefined;
  }
  return n;
}

const POLICY_FIELDS = new Set(["failureThreshold", "recoveryThreshold", "quorum", "regions"]);

/** Validates a replay request; every problem is listed at once. */
function parseReplayBody(
  body: unknown,
  current: CheckPolicy,
  t: number,
  maxWindowMs: number,
): { from: number; to: number; policy: CheckPolicy } {
  const problems = new Problems();
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    problems.add("body", "must be a JSON object");
    problems.throwIfAny("replay request");
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (key !== "from" && key !== "to" && key !== "policy")
      problems.add(key, "unknown field (known: from, to, policy)");
  const time = (key: string): number | undefined => {
    const v = b[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > MAX_EPOCH_MS) {
      problems.add(key, "must be a time in epoch milliseconds");
      return undefined;
    }
    return v;
  };
  const to = time("to") ?? t;
  const from = time("from") ?? to - DAY;
  if (from >= to) problems.add("from", "must be before to");
  else if (to - from > maxWindowMs) problems.add("from", `window longer than ${maxWindowMs} ms`);
  const overrides: Partial<CheckPolicy> = {};
  const p = b.policy;
  if (p !== undefined) {
    if (p === null || typeof p !== "object" || Array.isArray(p)) problems.add("policy", "must be an object");
    else {
      const po = p as Record<string, unknown>;
      for (const key of Object.keys(po))
        if (!POLICY_FIELDS.has(key))
          problems.add(`policy.${key}`, `unknown field (known: ${[...POLICY_FIELDS].join(", ")})`);
      for (const key of ["failureThreshold", "recoveryThreshold"] as const) {
        const v = po[key];
        if (v === undefined) continue;
        if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 100)
          problems.add(`policy.${key}`, "must be an integer between 1 and 100");
        else overrides[key] = v;
      }
      if (po.quorum !== undefined) {
        const q = typeof po.quorum === "string" || typeof po.quorum === "number" ? parseQuorum(po.quorum) : undefined;
        if (q === undefined || po.quorum === "")
          problems.add("policy.quorum", 'must be "majority", "all", "any" or a positive integer');
        else overrides.quorum = q;
      }
      if (po.regions !== undefined) {
        const r = po.regions;
        if (
          !Array.isArray(r) ||
          r.some((x) => typeof x !== "string" || !isSubjectToken(x)) ||
          new Set(r).size !== r.length
        ) {
          problems.add("policy.regions", "must be a list of distinct region names");
        } else overrides.regions = r as string[];
      }
    }
  }
  problems.throwIfAny("replay request");
  return { from, to, policy: normalizePolicy({ ...current, ...overrides }) };
}
