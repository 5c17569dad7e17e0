export { freePort } from "./ports.js";
export { startProcess, waitFor, waitForPort, type Managed } from "./process.js";
export {
  startNats,
  startSecureNats,
  startSecureNatsCluster,
  type NatsClusterNode,
  type NatsServer,
  type SecureNatsCluster,
  type SecureNatsServer,
} from "./nats.js";
export { startClickHouse, type ClickHouseServer } from "./clickhouse.js";
