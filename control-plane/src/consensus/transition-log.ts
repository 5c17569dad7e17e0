import type { Logger } from "pino";
import type { Transition } from "./types.js";

const TYPES_LOGGED_AT_INFO = new Set<Transition["type"]>([
  "check.state",
  "outage.opened",
  "outage.resolved",
  "partial.opened",
  "partial.resolved",
  "partial.absorbed",
  "check.error",
  "check.error.resolved",
  "check.degraded",
  "check.recovered",
  "agent.impaired",
  "agent.recovered",
]);

/** One structured line per transition: the ones users act on at info, region-level ones at debug. */
export function logTransition(log: Logger, t: Transition, fields: Record<string, unknown> = {}): void {
  const line = { ...describe(t), ...fields };
  if (TYPES_LOGGED_AT_INFO.has(t.type)) log.info(line, "consensus transition");
  else log.debug(line, "consensus transition");
}

function describe(t: Transition): Record<string, unknown> {
  switch (t.type) {
    case "region.state":
      return { type: t.type, checkId: t.checkId, region: t.region, from: t.from, to: t.to, at: t.at, reason: t.reason };
    case "check.state":
      return { type: t.type, checkId: t.checkId, from: t.from, to: t.to, at: t.at };
    case "check.degraded":
    case "check.recovered":
      return { type: t.type, checkId: t.checkId, at: t.at, episode: t.episode };
    case "check.error":
      return { type: t.type, checkId: t.checkId, at: t.at, episode: t.episode, message: t.message };
    case "check.error.resolved":
      return { type: t.type, checkId: t.checkId, at: t.at, since: t.since, episode: t.episode, cause: t.cause };
    case "agent.impaired":
    case "agent.recovered":
      return { type: t.type, agentId: t.agentId, region: t.region, at: t.at, reason: t.reason };
    default:
      return {
        type: t.type,
        checkId: t.checkId,
        at: t.at,
        outageId: t.outage.id,
        regions: t.outage.regions,
        startedAt: t.outage.startedAt,
        reason: t.outage.reason,
      };
  }
}
