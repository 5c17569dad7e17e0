import type { Logger } from "pino";

/** Options of {@link onShutdownSignals}. */
export interface ShutdownSignalsOptions {
  /** Starts the graceful shutdown; called once, for the first SIGINT or SIGTERM. */
  shutdown: (signal: NodeJS.Signals) => void;
  /** Abandons the graceful shutdown (exits at once). */
  force: (signal: NodeJS.Signals) => void;
  log: Logger;
  /** Where the signals arrive. @default process */
  target?: { on(event: NodeJS.Signals, listener: () => void): unknown };
}

/**
 * SIGINT or SIGTERM starts a graceful shutdown. During it, only a repeated SIGINT (Ctrl-C pressed
 * again) forces an exit: a SIGTERM then is the supervisor or script that runs us (Ctrl-C reaches a
 * script's children and the script also sends SIGTERM), and must not cut the shutdown short.
 */
export function onShutdownSignals(opts: ShutdownSignalsOptions): void {
  const target = opts.target ?? process;
  let first: NodeJS.Signals | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    target.on(signal, () => {
      if (first === undefined) {
        first = signal;
        opts.shutdown(signal);
      } else if (signal === "SIGINT") {
        opts.log.warn({ signal }, "second interrupt; exiting immediately");
        opts.force(signal);
      } else {
        opts.log.info({ signal, first }, "already shutting down; SIGTERM ignored");
      }
    });
  }
}
