// The agent's Prometheus metrics (PROBEMESH_METRICS_ADDR, off by default).
export {
  createAgentMetrics,
  type AgentMetrics,
  type AgentMetricsHooks,
  type AgentMetricsOptions,
} from "./agent-metrics.js";
export { metricsAddrProblem } from "./listen-addr.js";
export { startAgentMetricsListener, type AgentMetricsListener } from "./metrics-listener.js";
