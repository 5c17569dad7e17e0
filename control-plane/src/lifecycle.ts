import type { Logger } from "pino";
import { onShutdownSignals } from "./shutdown-signals.js";

/** Options of {@link createLifecycle}. */
export interface LifecycleOptions {
  log: Logger;
  /** A shutdown that takes longer than this is forced (exit code 1). @default 15000 */
  graceMs?: number;
  /** Ends the process once stopped. @default process.exit */
  exit?: (code: number) => void;
}

/** Where process-wide events arrive: signals and unhandled rejections. */
export interface ProcessEvents {
  on(event: NodeJS.Signals | "unhandledRejection", listener: (reason?: unknown) => void): unknown;
}

/** Start order and stop order of a program's parts. */
export interface Lifecycle {
  /** Aborts as soon as the shutdown begins; long start-up retries watch it. */
  readonly signal: AbortSignal;
  /** Registers how to stop a part just started; parts stop in reverse order of registration. */
  onStop(cleanup: () => Promise<void> | void): void;
  /** Stops every registered part (last started first), then exits with `code`; later calls are ignored. */
  shutdown(reason: string, code: number): Promise<void>;
  /** SIGINT/SIGTERM shut down gracefully (a second SIGINT forces); an unhandled rejection shuts down with code 1. */
  handleProcessEvents(target?: ProcessEvents): void;
}

/** Creates the lifecycle of one program run. */
export function createLifecycle(opts: LifecycleOptions): Lifecycle {
  const { log } = opts;
  const graceMs = opts.graceMs ?? 15_000;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const stopping = new AbortController();
  const cleanups: (() => Promise<void> | void)[] = [];
  let shuttingDown = false;

  async function shutdown(reason: string, code: number): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    stopping.abort();
    log.info({ reason }, "shutting down");
    const force = setTimeout(() => {
      log.error({ graceMs }, "shutdown took too long; exiting now");
      exit(1);
    }, graceMs);
    force.unref();
    // Popped one by one: a part whose start finishes during the shutdown registers late and is stopped next.
    for (let cleanup = cleanups.pop(); cleanup; cleanup = cleanups.pop()) {
      try {
        await cleanup();
      } catch (err) {
        log.warn({ err }, "error during shutdown");
      }
    }
    clearTimeout(force);
    log.info("stopped");
    exit(code);
  }

  return {
    signal: stopping.signal,
    onStop(cleanup) {
      cleanups.push(cleanup);
    },
    shutdown,
    handleProcessEvents(target = process) {
      onShutdownSignals({ log, target, shutdown: (signal) => void shutdown(signal, 0), force: () => exit(1) });
      target.on("unhandledRejection", (err) => {
        log.fatal({ err }, "unhandled promise rejection");
        void shutdown("unhandled rejection", 1);
      });
    },
  };
}
