export { freePort } from "./ports.js";
export { startProcess, waitFor, waitForPort, type Managed } from "./process.js";
export { startNats, startSecureNats, type NatsServer, type SecureNatsServer } from "./nats.js";
export { startClickHouse, type ClickHouseServer } from "./clickhouse.js";
