import { z } from "@hono/zod-openapi";

// Response schemas of the consensus routes. Times are epoch ms; null where a time never happened.

const epochMs = z.int().openapi({ description: "epoch ms" });
const epochMsOrNull = z.int().nullable().openapi({ description: "epoch ms; null when never" });
const regionState = z.enum(["up", "degraded", "down", "unknown", "error"]);

/** An incident: a global outage, a partial (some regions) or one region's. */
export const OutageSchema = z
  .object({
    id: z.string().openapi({
      description:
        "from data (check uid, start of the deciding results), so replicas and replays name it the same; opaque",
    }),
    checkId: z.string(),
    checkUid: z
      .string()
      .openapi({ description: 'uid of the check the incident belongs to ("" for checks from before uids)' }),
    kind: z.enum(["outage", "partial", "region"]),
    state: z.enum(["open", "resolved", "abandoned"]).openapi({
      description: "abandoned: the check was deleted or what it probes replaced while the incident was open",
    }),
    startedAt: epochMs.openapi({ description: "first failing observation among the agreeing regions" }),
    confirmedAt: epochMs.openapi({ description: "when the engine decided" }),
    resolvedAt: epochMsOrNull.openapi({ description: "when recovery was confirmed; null while open" }),
    regions: z.array(z.string()),
    reason: z.string().openapi({ description: "dominant failure reason" }),
    suppressed: z.boolean().openapi({
      description:
        "a dependency (`dependsOn`) had an open outage when it opened: stored and shown, not announced to hooks " +
        "(announced when the dependencies recover while it is still open)",
    }),
    suppressedBy: z
      .array(z.string())
      .optional()
      .openapi({ description: "with suppressed: the dependencies that were down when it opened" }),
  })
  .openapi("Outage", {
    example: {
      id: "outage:web:0b6f8e4c:1767225600000",
      checkId: "web",
      kind: "outage",
      state: "resolved",
      startedAt: 1767225600000,
      confirmedAt: 1767225660000,
      resolvedAt: 1767225960000,
      regions: ["eu-west", "us-east"],
      reason: "http_status",
      checkUid: "0b6f8e4c-3a52-4c4e-9d7e-7f1d2a9b5c11",
      suppressed: false,
    },
  });

const RegionStatusSchema = z
  .object({
    state: regionState,
    since: epochMsOrNull,
    lastResultAt: epochMsOrNull,
    impaired: z.boolean().openapi({ description: "the region abstains because its agents are impaired" }),
    impairedReason: z.string().optional(),
    reason: z.string().optional().openapi({ description: "reason of the newest failing result" }),
    error: z.string().optional().openapi({ description: "while the region is in `error`: what its probers report" }),
    agents: z.array(
      z.object({
        agentId: z.string(),
        state: regionState,
        fresh: z.boolean(),
        impaired: z.boolean(),
        lastResultAt: epochMsOrNull,
        error: z.string().optional().openapi({ description: "the agent's newest result was a prober error" }),
      }),
    ),
  })
  .openapi("RegionStatus");

/** What the regions currently agree on about one check. */
export const StatusSchema = z
  .object({
    checkId: z.string(),
    state: z.enum(["up", "degraded", "partial", "down", "unknown"]),
    reason: z.string().optional().openapi({
      description: 'why the state is unknown: "error" (no probe can run) or "quorum unreachable"',
    }),
    missingRegions: z
      .array(z.string())
      .optional()
      .openapi({ description: 'with reason "quorum unreachable": the regions without a verdict' }),
    since: epochMsOrNull,
    regions: z.record(z.string(), RegionStatusSchema),
    outage: OutageSchema.nullable().openapi({ description: "the open outage or partial incident" }),
    suppressedBy: z.array(z.string()).optional().openapi({
      description: "dependencies (`dependsOn`) with an open outage now: incidents this check opens are suppressed",
    }),
    maintenance: z.object({ id: z.string(), from: epochMs, to: epochMs }).optional().openapi({
      description:
        "while the check is in a maintenance window: the window and its current occurrence (incidents opened now are not announced to hooks)",
    }),
  })
  .openapi("Status", {
    example: {
      checkId: "web",
      state: "up",
      since: 1767225960000,
      regions: {
        "eu-west": {
          state: "up",
          since: 1767225960000,
          lastResultAt: 1767229500000,
          impaired: false,
          agents: [{ agentId: "agent-eu-1", state: "up", fresh: true, impaired: false, lastResultAt: 1767229500000 }],
        },
      },
      outage: null,
    },
  });

/** Availability, downtime, MTTR, MTBF and error budget over a window. */
const AvailabilityReportShape = {
  from: epochMs,
  to: epochMs,
  windowMs: z.int(),
  noDataMs: z.int().openapi({
    description: "time of the window without a verdict (no results, too few regions): excluded from availability",
  }),
  maintenanceMs: z.int().openapi({
    description: "time of the window inside maintenance windows: excluded from availability, not part of noDataMs",
  }),
  downtimeMs: z.int().openapi({ description: "down time within observed time outside maintenance" }),
  outages: z.int().openapi({ description: "down intervals overlapping the window (overlaps merged)" }),
  mttrMs: z.number().nullable(),
  mtbfMs: z.number().nullable(),
  availability: z
    .number()
    .nullable()
    .openapi({ description: "percent of the observed time not down; null when nothing was observed" }),
  slo: z.object({
    target: z.number(),
    met: z.boolean(),
    errorBudgetMs: z.number(),
    errorBudgetRemainingMs: z.number(),
    errorBudgetRemainingPercent: z.number(),
  }),
};

/** An availability report (global or one region's). */
export const AvailabilityReportSchema = z.object(AvailabilityReportShape).openapi("AvailabilityReport");

/** Availability of a check: global (outages) and per region (its own incidents and result counts). */
export const AvailabilitySchema = z
  .object({
    checkId: z.string(),
    ...AvailabilityReportShape,
    regions: z.record(
      z.string(),
      z.object({
        ...AvailabilityReportShape,
        results: z.object({
          total: z.int(),
          up: z.int(),
          degraded: z.int(),
          down: z.int(),
          successRatio: z.number().nullable(),
          avgDurationMs: z.number(),
        }),
      }),
    ),
  })
  .openapi("Availability", {
    example: {
      checkId: "web",
      from: 1767139200000,
      to: 1767225600000,
      windowMs: 86400000,
      noDataMs: 0,
      maintenanceMs: 0,
      downtimeMs: 300000,
      outages: 1,
      mttrMs: 300000,
      mtbfMs: null,
      availability: 99.653,
      slo: {
        target: 99.9,
        met: false,
        errorBudgetMs: 86400,
        errorBudgetRemainingMs: -213600,
        errorBudgetRemainingPercent: -247.2,
      },
      regions: {},
    },
  });

const PolicySchema = z
  .object({
    intervalMs: z.int(),
    timeoutMs: z.int(),
    regions: z.array(z.string()),
    failureThreshold: z.int(),
    recoveryThreshold: z.int(),
    quorum: z.string(),
  })
  .openapi("Policy");

/** What a policy would have declared over a window of stored results, next to what was stored. */
export const ReplaySchema = z
  .object({
    checkId: z.string(),
    from: epochMs,
    to: epochMs.openapi({ description: "earlier than asked when truncated" }),
    truncated: z.boolean().openapi({ description: "the window held more results than one replay loads" }),
    policy: PolicySchema,
    currentPolicy: PolicySchema,
    results: z.int(),
    outages: z.array(OutageSchema),
    availability: AvailabilityReportSchema,
    stored: z.array(OutageSchema).openapi({ description: "incidents the live engine stored in the window" }),
  })
  .openapi("Replay");
