export {
  AgentError,
  ConfigError,
  StateDirLockedError,
  SeqStateError,
  OutboxClosedError,
  UnavailableError,
  NotRunningError,
} from "./errors.js";
export { createAgent, type Agent, type AgentDeps, type AgentStats, type ManagedSink } from "./agent.js";
export {
  loadConfig,
  sanitizeAgentId,
  AGENT_ENV_VARS,
  type AgentConfig,
  type EnvVarDoc,
  type LoadConfigOptions,
  type LogLevel,
} from "./config.js";
export { createLogger, REDACT_PATHS, type LoggerOptions } from "./logger.js";
export {
  backoffPolicy,
  createBackoff,
  type Backoff,
  type BackoffOptions,
  type BackoffPolicy,
  type Jitter,
} from "./backoff.js";
export { sleep } from "./sleep.js";
export { lockStateDir, type StateLock } from "./state-lock.js";
export { agentVersion } from "./version.js";
export {
  createAssignmentSet,
  type AssignmentSet,
  type AssignmentSetOptions,
  type AssignmentChange,
  type AssignmentState,
} from "./assignments/assignment-set.js";
export {
  createAssignmentCache,
  type AssignmentCache,
  type AssignmentCacheOptions,
} from "./assignments/assignment-cache.js";
export {
  createAssignmentClient,
  type AssignmentClient,
  type AssignmentClientOptions,
  type AssignmentClientStats,
  type AgentIdentity,
  type ChangeSource,
  type HeartbeatStats,
} from "./assignments/assignment-client.js";
export {
  createControlPlaneReplicas,
  startingReplica,
  isReplicaFailure,
  type AgentServiceClient,
  type ControlPlaneReplicas,
  type ControlPlaneReplicasOptions,
  type KeepaliveOptions,
  type MoveListener,
} from "./control-plane-replicas.js";
export {
  createScheduler,
  type Scheduler,
  type SchedulerOptions,
  type SchedulerStats,
  type RunReport,
} from "./schedule/scheduler.js";
export { systemClock, type Clock, type TimerHandle } from "./schedule/clock.js";
export {
  phaseOffset,
  nextSlotAtOrAfter,
  regionPhaseOffset,
  regionSlot,
  type RegionSlot,
} from "./schedule/phase-offset.js";
export { createSemaphore, type Semaphore, type Release } from "./schedule/semaphore.js";
export { createLagTracker, type LagTracker, type LagSummary } from "./schedule/lag-tracker.js";
export {
  createResultBuilder,
  type ResultBuilder,
  type ResultBuilderOptions,
  type ResultIdentity,
} from "./publish/result-builder.js";
export { openSeqCounter, type SeqCounter, type SeqCounterOptions } from "./publish/seq-counter.js";
export { openOutbox, type Outbox, type OutboxEntry, type OutboxOptions, type OutboxStats } from "./publish/outbox.js";
export {
  createResultPublisher,
  type ResultPublisher,
  type ResultPublisherOptions,
  type PublisherStats,
} from "./publish/result-publisher.js";
export { createNatsSink, type NatsSink, type NatsSinkOptions } from "./publish/nats-sink.js";
export type { ResultSink } from "./publish/result-sink.js";
export {
  createProbers,
  capabilitiesOf,
  type ProbersOptions,
  type LookupFn,
  type ResolvedAddress,
} from "./probes/index.js";
export { systemLookup } from "./probes/shared/resolve.js";
export type { Prober, ProbeOutcome, ProbeContext, ProbeVerdict, FailureReason } from "./probes/types.js";
