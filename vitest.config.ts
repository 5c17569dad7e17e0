import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
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
        },
      },
    ],
  },
});
