import { existsSync } from "node:fs";
import { configDefaults, defineConfig } from "vitest/config";

/**
 * Integration files that may run beside the serial ones (deploy/test.sh's second lane): protocol,
 * adapter, store and trust tests that start only their own servers, with no network namespace, no
 * SIGSTOP/kill of a server, no consensus verdict waited for and no assertion on elapsed time. A new
 * file runs in the serial lane until it is listed here.
 */
export const LIGHT_INTEGRATION_FILES = [
  "test/alertmanager.test.ts",
  "test/cli.test.ts",
  "test/clickhouse-store.test.ts",
  "test/consensus-store.test.ts",
  "test/contract.test.ts",
  "test/control-plane-api.test.ts",
  "test/control-plane-secrets.test.ts",
  "test/harness.test.ts",
  "test/hooks/actions.test.ts",
  "test/hooks/adapter-conformance.test.ts",
  "test/hooks/delivery.test.ts",
  "test/ingest.test.ts",
  "test/metrics-prometheus.test.ts",
  "test/partition-routing.test.ts",
  "test/probes/blackbox-parity.test.ts",
  "test/probes/dns-records.test.ts",
  "test/trust-identity.test.ts",
  "test/trust-ingest.test.ts",
  "test/trust-secrets.test.ts",
  "test/trust-transport.test.ts",
];

/**
 * PROBEMESH_TEST_LANE narrows the integration project for deploy/test.sh, which runs two vitest
 * processes at once: `serial` (every integration file but the light ones) and `light` (only those).
 * Unset, the integration project holds every file, one at a time, as before.
 */
for (const file of LIGHT_INTEGRATION_FILES)
  if (!existsSync(new URL(file, import.meta.url)))
    throw new Error(`LIGHT_INTEGRATION_FILES lists ${file}, which does not exist`);
const lane = process.env.PROBEMESH_TEST_LANE;
if (lane !== undefined && lane !== "serial" && lane !== "light")
  throw new Error(`PROBEMESH_TEST_LANE must be "serial" or "light", not ${JSON.stringify(lane)}`);

export default defineConfig({
  test: {
    projects: [
      {
        // Unit tests run as any developer: no root, no external servers (in-process ones on port 0
        // are fine). Whatever needs more (network namespaces, nats-server, clickhouse-server) is
        // an integration test in test/.
        test: {
          name: "unit",
          include: ["proto/src/**/*.test.ts", "agent/src/**/*.test.ts", "control-plane/src/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: lane === "light" ? LIGHT_INTEGRATION_FILES : ["test/**/*.test.ts"],
          exclude: lane === "serial" ? [...configDefaults.exclude, ...LIGHT_INTEGRATION_FILES] : configDefaults.exclude,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration tests start real servers and processes: one file at a time per vitest
          // process on 2 cores (deploy/test.sh runs the light files in a second process).
          fileParallelism: false,
          // One `probemesh-control-plane init` per kind of trust material for the whole run (test/harness/trust-init.ts).
          globalSetup: ["test/harness/global-setup.ts"],
          // The workspace packages are imported as built (dist/, as the programs run), natively: run
          // through Vite's module runner each file paid seconds transforming the control plane again.
          server: { deps: { external: [/\/(control-plane|agent|proto)\/dist\//] } },
        },
      },
    ],
  },
});
