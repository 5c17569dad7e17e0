// The shapes the dashboard reads from the API (a subset of GET /openapi.json's schemas).

export type CheckState = "up" | "degraded" | "partial" | "down" | "unknown";
export type RegionState = "up" | "degraded" | "down" | "unknown" | "error";

export interface AgentVote {
  agentId: string;
  state: RegionState;
  fresh: boolean;
  impaired: boolean;
  lastResultAt: number | null;
  error?: string;
}

export interface RegionStatus {
  state: RegionState;
  since: number | null;
  lastResultAt?: number | null;
  impaired: boolean;
  impairedReason?: string;
  reason?: string;
  error?: string;
  agents?: AgentVote[];
}

export interface Outage {
  id: string;
  checkId: string;
  kind: "outage" | "partial" | "region";
  state: "open" | "resolved" | "abandoned";
  startedAt: number;
  confirmedAt: number;
  resolvedAt: number | null;
  regions: string[];
  reason: string;
  suppressed: boolean;
}

/** GET /v1/checks/{id}/status, plus name and labels from GET /v1/status. */
export interface Status {
  checkId: string;
  state: CheckState;
  reason?: string;
  missingRegions?: string[];
  since: number | null;
  regions: Record<string, RegionStatus>;
  outage?: Outage | null;
  suppressedBy?: string[];
  maintenance?: { id: string; from: number; to: number };
  name?: string;
  labels?: Record<string, string>;
}

export interface StatusList {
  generatedAt: number;
  checks: Status[];
  unavailablePartitions: unknown[];
}

export interface Check {
  id: string;
  type: string;
  name?: string;
  description?: string;
  labels?: Record<string, string>;
  intervalMs: number;
  timeoutMs: number;
  regions?: string[];
}

export interface Result {
  id: string;
  checkId: string;
  agentId: string;
  region: string;
  provider: string;
  startedAt: number;
  durationMs: number;
  state: "up" | "degraded" | "down";
  reason: string;
  message: string;
  phases: { dnsMs: number; connectMs: number; tlsMs: number; ttfbMs: number; transferMs: number };
  attempts: number;
  httpStatus: number;
  lagMs: number;
}

export interface AvailabilityReport {
  from: number;
  to: number;
  windowMs: number;
  noDataMs: number;
  maintenanceMs: number;
  downtimeMs: number;
  outages: number;
  mttrMs: number | null;
  mtbfMs: number | null;
  availability: number | null;
  slo: {
    target: number;
    met: boolean;
    errorBudgetMs: number;
    errorBudgetRemainingMs: number;
    errorBudgetRemainingPercent: number;
  };
}

export interface Availability extends AvailabilityReport {
  checkId: string;
  regions: Record<
    string,
    AvailabilityReport & { results: { total: number; successRatio: number | null; avgDurationMs: number } }
  >;
}

export interface Agent {
  id: string;
  region: string;
  provider: string;
  revokedAt: number | null;
  version: string;
  capabilities: string[];
  outboxDepth: number;
  lastSeq: number;
  schedulingLagP99Ms: number;
  connected: boolean;
  lastSeenAt: number | null;
  impaired?: boolean;
  impairedReason?: string;
  impairedSince?: number | null;
}

export interface Hook {
  id: string;
  type: string;
  enabled?: boolean;
}

export interface Delivery {
  hookId: string;
  /** The hook's type; in GET /v1/deliveries (read scope) records only. */
  hookType?: string;
  eventId: string;
  eventType: string;
  checkId: string;
  deliveryId: string;
  attempt: number;
  outcome: string;
  status?: number;
  latencyMs: number;
  error?: string;
  at: number;
  retryAt?: number;
}

/** `event: status` of GET /v1/events. */
export interface StatusEvent {
  checkId: string;
  state: CheckState;
  since: number | null;
  regions: Record<string, { state: RegionState; since: number | null; impaired: boolean }>;
}

/** `event: transition` of GET /v1/events (the hook event envelope). */
export interface TransitionEvent {
  id: string;
  type: string;
  checkId: string;
  at: number;
  data: unknown;
}

/** One bucket of GET /v1/checks/{id}/latency (the result rollups). */
export interface LatencyBucket {
  region: string;
  at: number;
  total: number;
  down: number;
  avgDurationMs: number;
}

/** GET /v1/checks/{id}/latency. */
export interface Latency {
  checkId: string;
  window: string;
  from: number;
  to: number;
  bucketMs: number;
  buckets: LatencyBucket[];
}
