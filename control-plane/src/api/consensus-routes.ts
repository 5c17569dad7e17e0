import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Logger } from "pino";
import {
  availability,
  DEFAULT_SLO_TARGET,
  observedFromBuckets,
  type AvailabilityReport,
} from "../consensus/availability.js";
import type { ConsensusEngine } from "../consensus/engine.js";
import { staleAfterMs } from "../consensus/policy.js";
import { minEligible } from "../consensus/quorum.js";
import { replay } from "../consensus/replay.js";
import type { CheckPolicy, CheckStatus, Outage, RegionStatus } from "../consensus/types.js";
import { NotFoundError } from "../errors.js";
import { inMaintenanceOccurrence, maintenanceIntervals } from "../maintenance/in-maintenance.js";
import type { MaintenanceSubject, MaintenanceWindow } from "../maintenance/types.js";
import type { OutageStore, RegionCounts } from "../store/outages.js";
import { rowUidsOf } from "../store/row-uids.js";
import { availabilityQuery } from "./availability-query.js";
import { CheckIdParams } from "./check-id-param.js";
import { AvailabilitySchema, OutageSchema, ReplaySchema, StatusSchema } from "./consensus-schemas.js";
import { errorResponses } from "./error-schema.js";
import { bodyReadByHandler, documenting, requires } from "./openapi.js";
import { OutagesQuery } from "./outages-query.js";
import { readJson } from "./read-json.js";
import { parseReplayRequest, ReplayRequest } from "./replay-request.js";
import { createHistoryRoutes, type HistoryRoutesOptions } from "./history-routes.js";
import { createLatencyRoutes } from "./latency-routes.js";

/** A check as the consensus routes need it: its policy, creation time and labels. */
export type KnownCheck = CheckPolicy & { createdAt?: number; labels?: Readonly<Record<string, string>> };

/** Options of {@link createConsensusRoutes}. */
export interface ConsensusRoutesOptions {
  /** The consensus engine of this replica (its status of a check, when `status` is not given). */
  engine?: Pick<ConsensusEngine, "status">;
  /**
   * The live status of a check wherever it is decided (local, or forwarded to the replica owning its
   * partition: `localOrForwarded`); may throw UnavailableError (503). @default the engine's
   */
  status?: (checkId: string) => Promise<CheckStatus | undefined>;
  outageStore: Pick<OutageStore, "listOutages" | "resultCounts" | "loadObservations" | "observedBuckets">;
  /**
   * The current policy of a check from the registry (and when it was created: availability windows
   * start there), or undefined when there is no such check.
   */
  lookupCheck: (checkId: string) => Promise<KnownCheck | undefined>;
  log: Logger;
  /**
   * The maintenance windows now known: shown in a check's status, and reported apart in availability.
   * @default none
   */
  maintenanceWindows?: () => readonly MaintenanceWindow[];
  /** @default Date.now */
  now?: () => number;
  /**
   * The identities a check id has had and the results store: GET /{id}/history.
   * @default not served
   */
  history?: Pick<HistoryRoutesOptions, "identities" | "results">;
  /**
   * Latency per region and time bucket from the rollups: GET /{id}/latency.
   * @default not served
   */
  latencyBuckets?: OutageStore["latencyBuckets"];
  /** SLO target (percent) when the request does not give one. @default 99.9 */
  sloTarget?: number;
  /** Most results one replay loads; beyond it the replay stops early and says so. @default 500000 */
  maxReplayResults?: number;
  /** Longest replay window. @default 2678400000 (31 days) */
  maxReplayWindowMs?: number;
}

/** The consensus sub-apps: routes under a check, and the incident list. */
export interface ConsensusRoutes {
  /** Mounted at /v1/checks: GET /{id}/status, GET /{id}/availability, POST /{id}/replay. */
  checks: OpenAPIHono;
  /** Mounted at /v1/outages: GET /. */
  outages: OpenAPIHono;
}

const DAY = 86_400_000;
const tags = ["consensus"];
const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const getStatus = createRoute({
  operationId: "getCheckStatus",
  method: "get",
  path: "/{id}/status",
  tags,
  summary: "What the regions agree on about a check",
  ...requires("read"),
  request: { params: CheckIdParams },
  responses: {
    200: json(documenting<unknown>(StatusSchema), "The check's status"),
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

const listOutages = createRoute({
  operationId: "listOutages",
  method: "get",
  path: "/",
  tags,
  summary: "Incidents, newest first",
  ...requires("read"),
  request: { query: OutagesQuery },
  responses: { 200: json(z.array(OutageSchema), "Incidents"), ...errorResponses(400, 401, 403, 503) },
});

const replayCheck = createRoute({
  operationId: "replayCheck",
  method: "post",
  path: "/{id}/replay",
  tags,
  summary: "Replay stored results under a policy",
  description:
    "Changes nothing, but can read a month of results: it needs the token like writes. " +
    "Returns the incidents the policy would have declared next to those stored.",
  ...requires("write"),
  request: { params: CheckIdParams, body: bodyReadByHandler("ReplayRequest", "Window and policy overrides") },
  responses: { 200: json(ReplaySchema, "The replay"), ...errorResponses(400, 401, 403, 404, 413, 503) },
});

/**
 * Consensus API: GET /v1/checks/{id}/status, GET /v1/outages, GET /v1/checks/{id}/availability and
 * POST /v1/checks/{id}/replay (the root mounts them; its guards apply). Times are epoch ms.
 */
export function createConsensusRoutes(opts: ConsensusRoutesOptions): ConsensusRoutes {
  const { engine, outageStore, lookupCheck } = opts;
  const status = opts.status ?? (async (checkId: string) => engine?.status(checkId));
  const log = opts.log.child({ component: "consensus-api" });
  const now = opts.now ?? Date.now;
  const defaultSlo = opts.sloTarget ?? DEFAULT_SLO_TARGET;
  const maxReplayResults = opts.maxReplayResults ?? 500_000;
  const maxReplayWindowMs = opts.maxReplayWindowMs ?? 31 * DAY;
  const maintenanceWindows = opts.maintenanceWindows ?? (() => []);

  async function knownCheck(id: string): Promise<KnownCheck> {
    const policy = await lookupCheck(id);
    if (!policy) throw new NotFoundError("check", id);
    return policy;
  }

  const checks = new OpenAPIHono();
  checks.openAPIRegistry.register("ReplayRequest", ReplayRequest);

  checks.openapi(getStatus, async (c) => {
    const policy = await knownCheck(c.req.valid("param").id);
    const current = statusJson((await status(policy.checkId)) ?? emptyStatus(policy));
    const o = inMaintenanceOccurrence(maintenanceWindows(), subject(policy), now());
    return c.json(o ? { ...current, maintenance: { id: o.window.id, from: o.from, to: o.to } } : current, 200);
  });

  const getAvailability = createRoute({
    operationId: "getCheckAvailability",
    method: "get",
    path: "/{id}/availability",
    tags,
    summary: "Availability, MTTR, MTBF and error budget of a check",
    ...requires("read"),
    request: { params: CheckIdParams, query: availabilityQuery(now) },
    responses: { 200: json(AvailabilitySchema, "The report"), ...errorResponses(400, 401, 403, 404, 503) },
  });

  checks.openapi(getAvailability, async (c) => {
    const policy = await knownCheck(c.req.valid("param").id);
    const query = c.req.valid("query");
    const { to, slo } = query;
    const t = now();
    // Time before the check existed is not uptime: the window starts at its creation.
    const from = Math.min(Math.max(query.from, policy.createdAt ?? 0), to);
    // Observed time at a resolution of at least a minute and the check's interval, ~2000 buckets at most.
    const bucketMs = Math.ceil(Math.max(60_000, policy.intervalMs, (to - from) / 2000) / 60_000) * 60_000;
    // Only the current check's rows: a re-created id never reads the deleted check's (rows from
    // before uids are this check's only when it was stored before uids).
    const mine = { checkId: policy.checkId, checkUids: rowUidsOf(policy.checkId, policy.checkUid, policy.createdAt) };
    const [outages, regionIncidents, counts, buckets] = await Promise.all([
      outageStore.listOutages({ ...mine, from, to, kinds: ["outage"], limit: 10_000 }),
      outageStore.listOutages({ ...mine, from, to, kinds: ["region"], limit: 10_000 }),
      outageStore.resultCounts({ ...mine, from, to }),
      outageStore.observedBuckets({ ...mine, from, to, bucketMs }),
    ]);
    // Maintenance is the check's: every region and the global figure leave it out alike.
    const maintenance = maintenanceIntervals(maintenanceWindows(), subject(policy), from, Math.min(to, t));
    const opts = { from, to, now: t, sloTarget: slo ?? defaultSlo, maintenance };
    const regionNames = new Set([
      ...policy.regions,
      ...counts.map((r) => r.region),
      ...regionIncidents.flatMap((o) => o.regions),
    ]);
    // Globally, time is observed where enough regions reported to decide under the check's quorum.
    const total = policy.regions.length > 0 ? policy.regions.length : regionNames.size;
    const observed = observedFromBuckets(buckets, bucketMs, minEligible(policy.quorum, total));
    const regions: Record<string, AvailabilityReport & { results: ReturnType<typeof countsJson> }> = {};
    for (const name of [...regionNames].sort()) {
      const mine = regionIncidents.filter((o) => o.regions.includes(name)).map(interval);
      regions[name] = {
        ...availability(mine, { ...opts, observed: observed.regions.get(name) ?? [] }),
        results: countsJson(counts.find((r) => r.region === name)),
      };
    }
    const global = availability(outages.map(interval), { ...opts, observed: observed.global });
    return c.json({ checkId: policy.checkId, ...global, regions }, 200);
  });

  checks.openapi(replayCheck, async (c) => {
    const current = await knownCheck(c.req.valid("param").id);
    const body = await readJson(c);
    const { from, to, policy } = parseReplayRequest(body, current, now(), maxReplayWindowMs);
    // Enough history before `from` for the streaks and staleness that were in force at `from`.
    const warmUpMs =
      staleAfterMs(policy) + Math.max(policy.failureThreshold, policy.recoveryThreshold) * policy.intervalMs;
    const loaded = await outageStore.loadObservations({
      checkId: policy.checkId,
      checkUids: rowUidsOf(current.checkId, current.checkUid, current.createdAt),
      from: Math.max(0, from - warmUpMs),
      to,
      limit: maxReplayResults,
    });
    const effectiveTo = loaded.truncated ? (loaded.observations.at(-1)?.startedAt ?? from) + 1 : to;
    // Every loaded row is this check's (rowUidsOf): those stored before it had a uid are fed as its
    // own, or the engine would ignore them as another check's.
    const observations = loaded.observations.map((o) => (o.checkUid === "" ? { ...o, checkUid: current.checkUid } : o));
    const result = replay(observations, policy, { from, to: Math.max(effectiveTo, from + 1) });
    const declared = result.outages.filter((o) => o.kind !== "region");
    const stored = await outageStore.listOutages({
      checkId: policy.checkId,
      checkUids: rowUidsOf(current.checkId, current.checkUid, current.createdAt),
      from,
      to: effectiveTo,
      kinds: ["outage", "partial"],
      limit: 10_000,
    });
    log.info(
      { checkId: policy.checkId, from, to: effectiveTo, results: result.results, outages: declared.length },
      "policy replayed",
    );
    return c.json(
      {
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
      },
      200,
    );
  });

  if (opts.history)
    checks.route("/", createHistoryRoutes({ ...opts.history, outageStore, lookupCheck, outageJson, now }));
  if (opts.latencyBuckets)
    checks.route("/", createLatencyRoutes({ latencyBuckets: opts.latencyBuckets, knownCheck, now }));

  const outages = new OpenAPIHono();
  outages.openapi(listOutages, async (c) => {
    const q = c.req.valid("query");
    // A check id re-created after a deletion starts clean: incidents of the deleted one (all closed
    // before the new one was created) are not its history.
    const current = q.checkId !== undefined ? await lookupCheck(q.checkId) : undefined;
    const from = Math.max(q.from ?? 0, current?.createdAt ?? 0);
    const list = await outageStore.listOutages({
      kinds: q.kind,
      limit: q.limit,
      ...(q.checkId !== undefined ? { checkId: q.checkId } : {}),
      ...(current ? { checkUids: rowUidsOf(current.checkId, current.checkUid, current.createdAt) } : {}),
      ...(from > 0 ? { from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
      ...(q.state !== undefined ? { state: q.state } : {}),
    });
    return c.json(list.map(outageJson), 200);
  });

  return { checks, outages };
}

function subject(check: KnownCheck): MaintenanceSubject {
  return check.labels ? { id: check.checkId, labels: check.labels } : check.checkId;
}

function interval(o: Outage): { start: number; end: number | null } {
  return { start: o.startedAt, end: o.resolvedAt };
}

/** An incident as the API shows it. */
export type OutageJson = Omit<Outage, "checkUid"> & { checkUid: string; suppressed: boolean };

/** An incident as the API shows it. */
export function outageJson(o: Outage): OutageJson {
  const suppressedBy = o.suppressedBy ?? [];
  return {
    id: o.id,
    checkId: o.checkId,
    checkUid: o.checkUid ?? "",
    kind: o.kind,
    state: o.state,
    startedAt: o.startedAt,
    confirmedAt: o.confirmedAt,
    resolvedAt: o.resolvedAt,
    regions: o.regions,
    reason: o.reason,
    suppressed: suppressedBy.length > 0,
    ...(suppressedBy.length > 0 ? { suppressedBy } : {}),
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

/** A status as the API shows it (GET /v1/checks/{id}/status, GET /v1/status). */
export function statusJson(s: CheckStatus): Record<string, unknown> {
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
    ...(s.suppressedBy && s.suppressedBy.length > 0 ? { suppressedBy: s.suppressedBy } : {}),
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

/** The status of a check its engine has not seen yet. */
export function emptyStatus(policy: Pick<CheckPolicy, "checkId" | "regions">): CheckStatus {
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
  // What the engine says of a check without results (it has not seen this one yet): nothing can be decided.
  return {
    checkId: policy.checkId,
    state: "unknown",
    reason: "quorum unreachable",
    missingRegions: [...policy.regions].sort(),
    since: 0,
    regions,
    outage: null,
  };
}

function policyJson(p: CheckPolicy): z.output<typeof ReplaySchema>["policy"] {
  return {
    intervalMs: p.intervalMs,
    timeoutMs: p.timeoutMs,
    regions: [...p.regions],
    failureThreshold: p.failureThreshold,
    recoveryThreshold: p.recoveryThreshold,
    quorum: String(p.quorum),
  };
}
