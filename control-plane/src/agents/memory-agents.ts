import { agentView, byId, STALE_AFTER_MS, withHeartbeat, withStreamClosed, withStreamOpened } from "./presence.js";
import type { AgentDirectory, AgentRecord } from "./types.js";

/** Agent presence held in process memory (unit tests, single-process experiments). */
export function createMemoryAgentDirectory({
  now = Date.now,
  staleAfterMs = STALE_AFTER_MS,
}: { now?: () => number; staleAfterMs?: number } = {}): AgentDirectory {
  const records = new Map<string, AgentRecord>();
  const put = (r: AgentRecord | undefined) => {
    if (r) records.set(r.id, r);
  };
  return {
    async streamOpened(agent, streamId, assignmentVersion) {
      put(
        withStreamOpened(records.get(agent.id), agent, { id: streamId, replica: "memory" }, assignmentVersion, now()),
      );
    },
    async streamClosed(agentId, streamId) {
      put(withStreamClosed(records.get(agentId), streamId, now()));
    },
    async heartbeat(agent, stats) {
      put(withHeartbeat(records.get(agent.id), agent, stats, now()));
    },
    async list() {
      const at = now();
      return [...records.values()].map((r) => agentView(r, at, staleAfterMs)).sort(byId);
    },
  };
}
