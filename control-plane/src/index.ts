// Public surface of @probemesh/control-plane (for tests and embedding); the bin is main.ts.
export {
  ProbemeshError,
  ValidationError,
  NotFoundError,
  UnauthorizedError,
  ForbiddenError,
  ConflictError,
  UnavailableError,
} from "./errors.js";
export { loadConfig, CONFIG_DEFAULTS, LOG_LEVELS, type Config } from "./config.js";
export { bearerMatches } from "./bearer-token.js";
export {
  createSecretBox,
  parseKeyRing,
  generateKeySpec,
  isSealed,
  SecretBoxError,
  ENVELOPE_PREFIX,
  type SecretBox,
  type KeyRing,
  type SecretKey,
} from "./trust/secret-box.js";
export { maskUrlQuery, QUERY_MASK } from "./trust/url-query.js";

export {
  validateCheck,
  CHECK_TYPES,
  HTTP_METHODS,
  DEFAULT_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_THRESHOLD,
  DEFAULT_QUORUM,
  type CheckType,
  type ValidateCheckOptions,
} from "./checks/validate-check.js";
export {
  checkToJson,
  maskSecrets,
  restoreMaskedSecrets,
  checkRunsIn,
  MASK,
  type CheckRecord,
} from "./checks/check-record.js";
export type { Problem } from "./checks/problems.js";

export type { CheckRegistry, RegistryChange, RegistryWatch } from "./registry/types.js";
export { createRegistry, type NatsRegistry, type RegistryOptions } from "./registry/nats-registry.js";
export { createMemoryRegistry } from "./registry/memory-registry.js";
export { CHECKS_BUCKET } from "./registry/check-entry.js";
export { createKvWatchReopens, type KvWatchReopens } from "./registry/kv-watch-reopens.js";

export type { AgentDirectory, AgentIdentity, AgentStats, AgentView } from "./agents/types.js";
export {
  createAgentDirectory,
  AGENTS_BUCKET,
  type NatsAgentDirectory,
  type AgentDirectoryOptions,
} from "./agents/nats-agents.js";
export { createMemoryAgentDirectory } from "./agents/memory-agents.js";
export { STALE_AFTER_MS } from "./agents/presence.js";

export {
  createAgentService,
  type AgentService,
  type AgentServiceOptions,
  type AgentServiceStats,
} from "./grpc/agent-service.js";
export { startGrpcServer, type GrpcServer, type GrpcServerOptions } from "./grpc/grpc-server.js";

export type { EnrolledAgent, Enrollment, Enrollments } from "./trust/enrollment.js";
export {
  createKvEnrollments,
  createMemoryEnrollments,
  ENROLLMENTS_BUCKET,
  AGENT_TOKEN_PREFIX,
  type EnrollmentStore,
  type EnrollRequest,
} from "./trust/enrollments.js";
export {
  createKvApiTokens,
  createMemoryApiTokens,
  API_TOKENS_BUCKET,
  API_TOKEN_PREFIX,
  type ApiTokens,
  type ApiTokenInfo,
  type Scope,
} from "./trust/api-tokens.js";

export { createApi, type Api, type ApiOptions, type ApiStats, type Readiness } from "./api/app.js";
export { startApiServer, type ApiServer } from "./api/serve.js";
export { DEFAULT_RESULTS_LIMIT, MAX_RESULTS_LIMIT } from "./api/results-query.js";
export { createConsensusRoutes, type ConsensusRoutesOptions } from "./api/consensus-routes.js";
export { createHooksApi, requireHooksToken, type HooksApiOptions } from "./api/hooks-routes.js";

export type { ResultRow, ResultQuery, ResultStore } from "./store/types.js";
export { createClickHouseStore, type ClickHouseStore, type ClickHouseStoreOptions } from "./store/clickhouse-store.js";
export { createOutageStore, type OutageStore, type OutageQuery, type RegionCounts } from "./store/outages.js";
export { listMigrations, runMigrations, type SqlExecutor } from "./store/migrate.js";
export { createCheckIdentityStore, type CheckIdentity, type CheckIdentityStore } from "./store/check-identities.js";
export { sql, type Sql, type SqlParam } from "./store/sql.js";
export {
  createIngest,
  ensureResultsStream,
  createResultBinding,
  followChecks,
  UNTRUSTED_REASONS,
  type Ingest,
  type IngestOptions,
  type IngestStats,
  type ResultBinding,
  type UntrustedCounts,
  type UntrustedReason,
} from "./ingest/index.js";

export {
  createEventPublisher,
  ensureEventsStream,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  type EventPublisher,
  type EventPublisherStats,
} from "./events/events-stream.js";

export {
  createConsensusEngine,
  createConsensusCluster,
  createPartitionDecider,
  createIncidentKv,
  openIncidentBucket,
  incidentKey,
  INCIDENTS_BUCKET,
  jetStreamFeed,
  replay,
  availability,
  policyFromCheck,
  observationFromRow,
  type ConsensusEngine,
  type ConsensusEngineOptions,
  type ConsensusCluster,
  type ConsensusClusterOptions,
  type IncidentKv,
  type OpenFeed,
  type CheckStatus,
  type CheckPolicy,
  type GlobalState,
  type Observation,
  type Outage,
  type Quorum,
  type RegionState,
  type Transition,
} from "./consensus/index.js";

export {
  createHooks,
  validateHook,
  verifyWebhook,
  signWebhook,
  WebhookVerificationError,
  createAdapters,
  hookEventsFromTransition,
  ACTION_HOOK_TYPES,
  DELIVERIES_SUBJECT_PREFIX,
  DELIVERIES_STREAM,
  DELIVERIES_CONSUMER,
  CLAIMS_STREAM,
  type Hooks,
  type HooksOptions,
  type ValidatedHook,
  type ActionContext,
  type HookAdapter,
  type DeliveryRecord,
  type Hook,
  type HookEvent,
  type HookType,
  type PublishOptions,
  type FenceJudge,
} from "./hooks/index.js";

export {
  serveStatus,
  forwardedStatus,
  forwardedStatuses,
  allStatuses,
  localOrForwarded,
  statusSubject,
  STATUS_SUBJECT_PREFIX,
  MAX_BULK_STATUS_IDS,
  type AllStatuses,
  type PartitionStatuses,
  type PartitionStatusLookup,
  type StatusLookup,
  type StatusServer,
  type StatusServerStats,
} from "./cluster/status-forwarding.js";

export {
  createAgentCredentialIssuer,
  agentPermissions,
  agentInboxPrefix,
  DEFAULT_AGENT_CREDENTIALS_TTL_MS,
  type AgentCredentialIssuer,
  type AgentNatsCredentials,
} from "./trust/agent-credentials.js";
export {
  initTrust,
  initPaths,
  natsNodePaths,
  type InitOptions,
  type InitReport,
  type InitPaths,
} from "./trust/init.js";
export { openKvBucket } from "./jetstream/kv.js";
export { loadAgentCredentialIssuer } from "./trust/nats-auth.js";
export { parseEnvFile } from "./trust/env-file.js";
export { attributingStore, type AttributingStore } from "./checks/attribute-results.js";

export {
  createPartitionLeases,
  fairShare,
  fenceVerdict,
  LEASES_BUCKET,
  type PartitionLeasesOptions,
} from "./cluster/leases.js";
export type {
  PartitionLeases,
  PartitionLease,
  LeaseView,
  LeaseLossReason,
  LeaseStats,
  FenceVerdict,
} from "./cluster/types.js";
export { FENCE_HEADER } from "./cluster/types.js";
