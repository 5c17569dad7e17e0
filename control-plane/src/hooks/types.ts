/** Event types a hook can subscribe to (the consensus engine's global transitions). */
export const HOOK_EVENT_TYPES = [
  "outage.opened",
  "outage.resolved",
  "partial.opened",
  "partial.resolved",
  "check.degraded",
  "check.recovered",
  "partial.absorbed",
  "incident.abandoned",
  "check.deleted",
  "check.error",
  "check.error.resolved",
] as const;

/** One of {@link HOOK_EVENT_TYPES}, or "test" (sent only by `POST /v1/hooks/:id/test`). */
export type HookEventType = (typeof HOOK_EVENT_TYPES)[number] | "test";

/** Per-region state carried by an event. */
export interface HookRegionState {
  state: string;
  /** Epoch ms since the region has been in `state`. */
  since?: number;
}

/** Payload of a {@link HookEvent}; times are epoch milliseconds. */
export interface HookEventData {
  checkId: string;
  outageId?: string;
  /** Kind of the incident `outageId` names: "outage" or "partial". */
  kind?: string;
  /** Global state of the check after the transition ("down", "up", "partial", "degraded", ...). */
  state: string;
  regions: Record<string, HookRegionState>;
  startedAt?: number;
  confirmedAt?: number;
  resolvedAt?: number;
  reason?: string;
  /**
   * `incident.abandoned`, `check.deleted`: why the incident closed ("check.deleted" or "check.replaced");
   * `check.error.resolved`: why the episode ended ("verdict", "check.deleted" or "check.replaced").
   */
  cause?: string;
  /** `partial.absorbed`: id of the outage that opened over the partial. */
  absorbedBy?: string;
  /** `check.error`: what the probers report. */
  message?: string;
  /** An incident opened while these dependencies (`dependsOn`) were down: suppressed (see HOOKS.md). */
  suppressedBy?: string[];
}

/**
 * One global transition, as sent to hooks. `id` is deterministic from the transition (e.g.
 * `${outageId}:${type}`), so a replayed transition is the same event and is not delivered twice.
 */
export interface HookEvent {
  id: string;
  type: HookEventType;
  /** ISO 8601 time of the transition. */
  timestamp: string;
  data: HookEventData;
}

/**
 * Why a gate held an event back from hooks (for now or for good): a maintenance window of its check,
 * or the check's dependencies (`dependsOn`) that were down. GET /v1/events shows such events with it.
 */
export type HeldBy = { by: "maintenance"; windowId: string } | { by: "dependency"; checkIds: string[] };

/** Told of each event a gate holds back from hooks, and why. */
export type OnHeld = (event: HookEvent, held: HeldBy) => void;

/** Hook types: a signed webhook, a built-in action, or a notification format. */
export const HOOK_TYPES = ["webhook", "haproxy", "powerdns", "rfc2136", "pagerduty", "alertmanager", "slack"] as const;
/** One of {@link HOOK_TYPES}. */
export type HookType = (typeof HOOK_TYPES)[number];

/** Hook types that change traffic (and so are ordered per check and guarded), as opposed to notifications. */
export const ACTION_HOOK_TYPES: readonly HookType[] = ["haproxy", "powerdns", "rfc2136"];

/** Options of a `haproxy` hook: which server to put in maintenance on an outage. */
export interface HaproxyOptions {
  /** Runtime API socket: an absolute unix socket path, or "host:port". */
  socket: string;
  backend: string;
  server: string;
}

/** Options of a DNS record swap (`powerdns` and `rfc2136` hooks). */
export interface DnsSwapOptions {
  /** Zone, fully qualified with a trailing dot (e.g. "example.test."). */
  zone: string;
  /** Record name inside the zone, fully qualified (e.g. "www.example.test."). */
  name: string;
  recordType: "A" | "AAAA";
  /** @default 60 */
  ttl: number;
  /** Addresses served while the check is up. */
  primary: string[];
  /** Addresses served during an outage. */
  standby: string[];
  /** Check watching the standby; while its last known state is down, the hook refuses to switch to it. */
  standbyCheckId?: string;
  /** DNS server ("host:port") queried to verify the change. */
  verifyServer: string;
}

/** Options of a `powerdns` hook (Authoritative HTTP API at the hook's `url`). */
export interface PowerdnsOptions extends DnsSwapOptions {
  /** X-API-Key of the PowerDNS API (a secret: masked in responses, never logged). */
  apiKey: string;
  /** @default "localhost" */
  serverId: string;
}

/** TSIG key of an `rfc2136` hook. */
export interface TsigKey {
  name: string;
  /** @default "hmac-sha256" */
  algorithm: "hmac-sha256";
  /** Base64 key (a secret: masked in responses, never logged). */
  secret: string;
}

/** Options of an `rfc2136` hook (DNS UPDATE signed with TSIG). */
export interface Rfc2136Options extends DnsSwapOptions {
  /** Primary server accepting updates, "host:port". */
  server: string;
  tsig: TsigKey;
}

/** Options of a `pagerduty` hook (Events API v2). */
export interface PagerdutyOptions {
  /** Integration (routing) key (a secret: masked in responses, never logged). */
  routingKey: string;
  /** Severity of outage triggers. @default "critical" */
  severity: "critical" | "error" | "warning" | "info";
  /** `payload.source` of triggers. @default "probemesh" */
  source: string;
}

/** Options of an `alertmanager` hook (Alertmanager webhook payload, version 4). */
export interface AlertmanagerOptions {
  /** Extra labels on every alert. */
  labels: Record<string, string>;
  /** `receiver` field of the payload. @default "probemesh" */
  receiver: string;
}

/** A validated hook as stored (secrets in clear: never returned by the API, never logged). */
export interface Hook {
  id: string;
  type: HookType;
  /**
   * Where to POST (webhook, pagerduty, alertmanager, slack) or the PowerDNS API base URL; "" for others.
   * A slack hook's URL is itself the credential: sealed at rest and masked whole in answers.
   */
  url: string;
  /** Standard Webhooks secret (`whsec_` + base64) used to sign HTTP deliveries; "" for non-HTTP types. */
  secret: string;
  /** Older secrets still signed with during a rotation. */
  previousSecrets: string[];
  events: HookEventType[];
  /** Check ids the hook is for; empty = every check (or those `selector` picks). */
  checks: string[];
  /** Check labels the hook is for, all must match (an alternative to `checks`); absent or empty = every check. */
  selector?: Record<string, string>;
  /** Minimum time between two opposite actions of this hook for one check. @default 0 */
  cooldownMs: number;
  /** Minimum time a failover stays in place before a failback is applied. @default 0 */
  minHoldMs: number;
  /** Record what would be done, do nothing. @default false */
  dryRun: boolean;
  /** Per-attempt timeout. @default 10000 */
  timeoutMs: number;
  /** Give up on a delivery this long after it was enqueued. @default 86400000 (24 h) */
  deadlineMs: number;
  haproxy?: HaproxyOptions;
  powerdns?: PowerdnsOptions;
  rfc2136?: Rfc2136Options;
  pagerduty?: PagerdutyOptions;
  alertmanager?: AlertmanagerOptions;
}

/** A hook with its bookkeeping, as kept in the registry. */
export interface HookRecord {
  hook: Hook;
  createdAt: number;
  updatedAt: number;
  /** Set when the hook was disabled (e.g. its receiver answered 410 Gone); a PUT clears it. */
  disabled?: { at: number; reason: string };
  /** KV revision of this record. */
  revision: number;
}

/** What a delivery attempt did, as recorded in the delivery log. */
export type DeliveryOutcome =
  | "delivered"
  | "dry_run"
  | "failed"
  | "held"
  | "refused"
  | "superseded"
  | "disabled"
  | "gave_up"
  | "skipped"
  | "fenced"
  | "duplicate";

/** Result of applying (or verifying) a hook's action. */
export interface ActionResult {
  /** The action took effect (or, in dry-run, would be attempted). */
  ok: boolean;
  /** What was (or would be) done, e.g. "set server be/web1 state maint". */
  action: string;
  /** HTTP status of the receiver, for HTTP hooks. */
  status?: number;
  /** Read back after applying: did the target end up in the wanted state? */
  verified?: boolean;
  /** What the read-back observed (e.g. "www.example.test. A 10.0.0.2"). */
  observed?: string;
  /** Set when the action refused to run (fail open), with why; never retried. */
  refused?: string;
  /** Set when the receiver asked never to be called again (HTTP 410). */
  disable?: boolean;
  /** True when nothing was changed because the hook is in dry-run mode. */
  dryRun?: boolean;
  /** Why it failed, when `ok` is false (retried until the deadline). */
  error?: string;
}

/** One line of a hook's delivery log. */
export interface DeliveryRecord {
  hookId: string;
  eventId: string;
  eventType: HookEventType;
  checkId: string;
  /** The `webhook-id` the delivery carries on every attempt. */
  deliveryId: string;
  /** 1-based JetStream delivery count. */
  attempt: number;
  outcome: DeliveryOutcome;
  /** HTTP status of the receiver, when there was one. */
  status?: number;
  latencyMs: number;
  error?: string;
  /** Epoch ms of the record. */
  at: number;
  /** The action and its read-back, when one ran. */
  result?: ActionResult;
  /** When the delivery will be retried (epoch ms), for "failed" and "held". */
  retryAt?: number;
  /** The partition lease the event was published under (its `Probemesh-Fence` header), when it had one. */
  fence?: { partition: number; epoch: number };
}
