import { defineConfig } from "vitest/config";

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
          include: ["test/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration tests start real servers and processes: one file at a time on 2 cores.
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
