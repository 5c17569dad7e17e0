#!/usr/bin/env node
import type { AgentConfig } from "./config.js";
import { applyLeanHeap } from "./lean-heap.js";

// Before any other module loads: loading them is enough to grow V8's young generation for good.
const leanHeapFlags = applyLeanHeap({ execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS });
const { AGENT_ENV_VARS, ConfigError, loadConfig } = await import("./config.js");
const { createAgent } = await import("./agent.js");
const { createLogger } = await import("./logger.js");
const { createProbers } = await import("./probes/index.js");
const { createAgentMetrics, startAgentMetricsListener } = await import("./metrics/index.js");
const { agentVersion } = await import("./version.js");

/** Longest a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 15_000;

function usage(): string {
  const rows = AGENT_ENV_VARS.map(
    (v) => `  ${v.name.padEnd(28)} ${v.meaning}\n  ${"".padEnd(28)} default: ${v.default}`,
  );
  return `probemesh-agent ${agentVersion()}: runs synthetic checks assigned by the control plane and publishes results to NATS JetStream.\n\nConfigured by environment variables:\n${rows.join("\n")}\n`;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === "--help" || arg === "-h") {
    process.stdout.write(usage());
    return;
  }
  if (arg === "--version") {
    process.stdout.write(`${agentVersion()}\n`);
    return;
  }

  let config: AgentConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`probemesh-agent: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const log = createLogger({ level: config.logLevel, base: { agentId: config.agentId, region: config.region } });
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled promise rejection"));
  process.on("uncaughtException", (err) => {
    log.fatal({ err }, "uncaught exception; exiting");
    process.exit(1);
  });
  if (leanHeapFlags.length > 0) log.debug({ v8Flags: leanHeapFlags }, "lean V8 heap flags applied");

  const metrics = config.metricsAddr ? createAgentMetrics() : undefined;
  const agent = createAgent({ config, log, probers: createProbers(), ...(metrics ? { metrics } : {}) });
  try {
    await agent.start();
    if (metrics && config.metricsAddr) {
      metrics.readStats(() => agent.stats());
      await startAgentMetricsListener({ addr: config.metricsAddr, render: () => metrics.render(), log });
    }
  } catch (err) {
    log.fatal({ err }, "agent failed to start");
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without waiting");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "stopping");
    setTimeout(() => {
      log.error("graceful stop took too long; exiting");
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    agent.stop({ waitMs: 5000 }).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`probemesh-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
