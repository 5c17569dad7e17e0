/** Who an agent says it is (from AgentInfo). */
export interface AgentIdentity {
  id: string;
  region: string;
  provider: string;
  version: string;
  capabilities: string[];
}

/** What an agent reports in each heartbeat. */
export interface AgentStats {
  assignmentVersion: number;
  outboxDepth: number;
  lastSeq: number;
  schedulingLagP99Ms: number;
}

/** An agent's presence as stored in the `probemesh_agents` KV bucket. */
export interface AgentRecord extends AgentIdentity, AgentStats {
  /** The assignment stream currently open for this agent, on whichever replica holds it. */
  stream: { id: string; replica: string; openedAt: number } | null;
  /** Epoch ms the current (or last) stream opened; null when it never had one. */
  connectedAt: number | null;
  /** Epoch ms of the last sign of life (stream open, heartbeat, or stream refresh). */
  lastSeenAt: number;
}

/** An agent as the API shows it. */
export interface AgentView extends AgentIdentity, AgentStats {
  /** Has an open assignment stream on some replica and was seen within the last 15 s. */
  connected: boolean;
  lastSeenAt: number;
  connectedAt: number | null;
}

/**
 * Agent presence shared by all control-plane replicas. Writes are best effort: they never reject
 * (an implementation logs and counts its failures), so a NATS hiccup never breaks an agent's stream.
 */
export interface AgentDirectory {
  /** An assignment stream `streamId` opened for `agent`; `assignmentVersion` is the snapshot sent. */
  streamOpened(agent: AgentIdentity, streamId: string, assignmentVersion: number): Promise<void>;
  /** The stream ended; ignored when a newer stream (e.g. on another replica) replaced it. */
  streamClosed(agentId: string, streamId: string): Promise<void>;
  /** A heartbeat arrived. */
  heartbeat(agent: AgentIdentity, stats: AgentStats): Promise<void>;
  /** Every known agent, sorted by id. */
  list(): Promise<AgentView[]>;
}
