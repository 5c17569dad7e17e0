export { createConsensusEngine } from "./engine.js";
export type { ConsensusEngine, ConsensusEngineOptions, ConsensusStats, WarmUpInput } from "./engine.js";
export { replay } from "./replay.js";
export type { ReplayOptions, ReplayResult } from "./replay.js";
export { availability, DEFAULT_SLO_TARGET } from "./availability.js";
export type { AvailabilityOptions, AvailabilityReport, DownInterval } from "./availability.js";
export { decideGlobal, meetsQuorum, minEligible } from "./quorum.js";
export {
  DEFAULT_FAILURE_THRESHOLD,
  DEFAULT_RECOVERY_THRESHOLD,
  normalizePolicy,
  parseQuorum,
  policyFromCheck,
  staleAfterMs,
} from "./policy.js";
export { observationFromRow } from "./observation.js";
export type { ImpairmentOptions } from "./impairment.js";
export type {
  AgentHealth,
  CheckPolicy,
  CheckStatus,
  ErrorEndCause,
  GlobalState,
  IncidentKind,
  Observation,
  Outage,
  ProbeStateName,
  Quorum,
  RegionState,
  RegionStatus,
  Transition,
} from "./types.js";
export { createConsensusCluster } from "./cluster.js";
export type { ConsensusCluster, ConsensusClusterOptions, ConsensusClusterStats } from "./cluster.js";
export { createPartitionDecider } from "./partition-decider.js";
export type { PartitionDecider, PartitionDeciderOptions, PartitionDeciderStats } from "./partition-decider.js";
export { createIncidentKv, openIncidentBucket, incidentKey, INCIDENTS_BUCKET } from "./incident-kv.js";
export type { IncidentKv } from "./incident-kv.js";
export { jetStreamFeed } from "./result-feed.js";
export type { Feed, FeedHandlers, FeedMessage, FeedRequest, OpenFeed } from "./result-feed.js";
