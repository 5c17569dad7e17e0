import type { AgentInfo } from "@probemesh/proto";
import type { AgentIdentity } from "../agents/types.js";
import { subjectToken } from "../checks/rules.js";

const PRINTABLE = /^[\x20-\x7e]{0,64}$/;

/** Checks the AgentInfo an agent sent; returns its identity or the list of problems. */
export function agentIdentity(info: AgentInfo | undefined): { agent: AgentIdentity } | { problems: string[] } {
  if (!info) return { problems: ["agent: is required"] };
  const problems: string[] = [];
  const idProblem = subjectToken(info.id);
  if (idProblem) problems.push(`agent.id: ${idProblem}`);
  const regionProblem = subjectToken(info.region);
  if (regionProblem) problems.push(`agent.region: ${regionProblem}`);
  if (!PRINTABLE.test(info.provider)) problems.push("agent.provider: must be at most 64 printable ASCII characters");
  if (!PRINTABLE.test(info.version)) problems.push("agent.version: must be at most 64 printable ASCII characters");
  if (info.capabilities.length > 32 || info.capabilities.some((c) => !/^[a-z0-9_-]{1,32}$/.test(c))) {
    problems.push("agent.capabilities: at most 32 names of a-z 0-9 _ -");
  }
  if (problems.length > 0) return { problems };
  return {
    agent: {
      id: info.id,
      region: info.region,
      provider: info.provider,
      version: info.version,
      capabilities: [...info.capabilities],
    },
  };
}
