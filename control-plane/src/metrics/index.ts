// The control plane's Prometheus metrics: one registry per process, fed from the stats objects.
export {
  createControlPlaneMetrics,
  type ControlPlaneMetrics,
  type ControlPlaneMetricsOptions,
  type ControlPlaneMetricsSources,
} from "./control-plane-metrics.js";
export { parseCheckLabelNames, prometheusLabelName, type ExportedCheckLabel } from "./check-label-names.js";
export { CHECK_STATES } from "./check-series.js";
export { metricsAddrProblem } from "./listen-addr.js";
export { startMetricsListener, type MetricsListener } from "./metrics-listener.js";
export { createMetricsRoutes, type MetricsSource } from "./metrics-route.js";
export { requestMetrics, type RequestObserver } from "./request-metrics.js";
export { consumerPending } from "./consumer-pending.js";
