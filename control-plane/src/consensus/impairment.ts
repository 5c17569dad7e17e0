/** When an agent's own view is too broken to vote. Every field documents its default. */
export interface ImpairmentOptions {
  /** Fewest (non-canary) checks an agent must run before correlated failure can impair it. @default 5 */
  minChecks?: number;
  /** Share of its checks failing while another region sees them working that impairs an agent. @default 0.5 */
  share?: number;
  /** The agent recovers when that share falls below this (hysteresis). @default 0.25 */
  recoverShare?: number;
}

/** Per-agent counters, updated incrementally so detection costs O(1) per result. */
export interface AgentRecord {
  agentId: string;
  region: string;
  impaired: boolean;
  reason: string;
  since: number;
  /** Non-canary (check, agent) views this agent has. */
  checks: number;
  /** Of those, views whose newest result failed while an agent in another region sees the check work. */
  contradicted: number;
  /** Canary checks this agent is confirmed down on, with the failure reason. */
  canariesDown: Map<string, string>;
  /** Why another partition judges the agent impaired (its shared mark), "" when none does. */
  external: string;
}

/** Resolved impairment thresholds. */
export interface ImpairmentRules {
  minChecks: number;
  share: number;
  recoverShare: number;
}

/** Fills in impairment defaults. */
export function impairmentRules(options: ImpairmentOptions = {}): ImpairmentRules {
  const share = options.share ?? 0.5;
  return { minChecks: options.minChecks ?? 5, share, recoverShare: options.recoverShare ?? share / 2 };
}

/** A fresh, unimpaired agent record. */
export function newAgentRecord(agentId: string, region: string): AgentRecord {
  return {
    agentId,
    region,
    impaired: false,
    reason: "",
    since: 0,
    checks: 0,
    contradicted: 0,
    canariesDown: new Map(),
    external: "",
  };
}

/** Whether the agent abstains: impaired here, or by another partition's mark. */
export function abstains(agent: AgentRecord): boolean {
  return agent.impaired || agent.external !== "";
}

/** Why the agent abstains: this engine's judgement first, else the other partition's. */
export function abstainReason(agent: AgentRecord): string {
  return agent.impaired ? agent.reason : agent.external;
}

/**
 * Whether the agent should be impaired now and why ("" when not). Uses only the counters, so it is
 * O(1) (plus the number of failing canaries) however many checks the agent runs.
 */
export function judgeAgent(agent: AgentRecord, rules: ImpairmentRules): { impaired: boolean; reason: string } {
  if (agent.canariesDown.size > 0) {
    const [checkId, reason] = [...agent.canariesDown].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))[0]!;
    const more = agent.canariesDown.size > 1 ? ` (and ${agent.canariesDown.size - 1} more)` : "";
    return {
      impaired: true,
      reason: `canary check ${JSON.stringify(checkId)} failing${reason ? ` (${reason})` : ""}${more}`,
    };
  }
  if (agent.checks >= rules.minChecks && agent.checks > 0) {
    const ratio = agent.contradicted / agent.checks;
    // Leaving needs the share to fall well below the entry level, so one result cannot flap it.
    const limit = agent.impaired ? rules.recoverShare : rules.share;
    if (agent.contradicted > 0 && ratio >= limit) {
      return {
        impaired: true,
        reason: `${agent.contradicted} of ${agent.checks} checks failing while other regions see them up`,
      };
    }
  }
  return { impaired: false, reason: "" };
}
