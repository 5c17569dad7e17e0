import type { AgentIdentity, AgentRecord, AgentStats, AgentView } from "./types.js";

/** An agent with an open stream counts as connected only if seen within this many ms. @default 15000 */
export const STALE_AFTER_MS = 15_000;

const NO_STATS: AgentStats = { assignmentVersion: 0, outboxDepth: 0, lastSeq: 0, schedulingLagP99Ms: 0 };

/** The record after stream `streamId` opened on `replica` at `now`. */
export function withStreamOpened(
  prev: AgentRecord | undefined,
  agent: AgentIdentity,
  stream: { id: string; replica: string },
  assignmentVersion: number,
  now: number,
): AgentRecord {
  return {
    ...NO_STATS,
    ...prev,
    ...agent,
    assignmentVersion,
    stream: { ...stream, openedAt: now },
    connectedAt: now,
    lastSeenAt: now,
  };
}

/** The record after stream `streamId` closed; unchanged (undefined) when another stream replaced it. */
export function withStreamClosed(
  prev: AgentRecord | undefined,
  streamId: string,
  now: number,
): AgentRecord | undefined {
  if (!prev || prev.stream?.id !== streamId) return undefined;
  return { ...prev, stream: null, lastSeenAt: now };
}

/** The record after a heartbeat at `now`. */
export function withHeartbeat(
  prev: AgentRecord | undefined,
  agent: AgentIdentity,
  stats: AgentStats,
  now: number,
): AgentRecord {
  return { stream: null, connectedAt: null, ...prev, ...agent, ...stats, lastSeenAt: now };
}

/** The record with `lastSeenAt` refreshed while `streamId` is still its open stream; else undefined. */
export function withStreamAlive(prev: AgentRecord | undefined, streamId: string, now: number): AgentRecord | undefined {
  if (!prev || prev.stream?.id !== streamId) return undefined;
  return { ...prev, lastSeenAt: now };
}

/** The API view of a record at `now`. */
export function agentView(r: AgentRecord, now: number, staleAfterMs = STALE_AFTER_MS): AgentView {
  return {
    id: r.id,
    region: r.region,
    provider: r.provider,
    version: r.version,
    capabilities: r.capabilities,
    connected: r.stream !== null && now - r.lastSeenAt <= staleAfterMs,
    lastSeenAt: r.lastSeenAt,
    connectedAt: r.connectedAt,
    assignmentVersion: r.assignmentVersion,
    outboxDepth: r.outboxDepth,
    lastSeq: r.lastSeq,
    schedulingLagP99Ms: r.schedulingLagP99Ms,
  };
}

/** Parses a stored record; undefined when it is not one. */
export function parseAgentRecord(text: string): AgentRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<AgentRecord> | null;
    if (!r || typeof r.id !== "string" || typeof r.region !== "string" || typeof r.lastSeenAt !== "number")
      return undefined;
    return {
      ...NO_STATS,
      provider: "",
      version: "",
      capabilities: [],
      stream: null,
      connectedAt: null,
      ...r,
    } as AgentRecord;
  } catch {
    return undefined;
  }
}

/** Sorts views by id. */
export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
