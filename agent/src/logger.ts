import { pino, type Logger } from "pino";
import type { LogLevel } from "./config.js";

/** Paths pino censors wherever they appear in a log line (tokens and auth headers). */
export const REDACT_PATHS: readonly string[] = [
  "token",
  "agentToken",
  "authorization",
  "*.token",
  "*.agentToken",
  "*.authorization",
  "*.headers.authorization",
  "config.agentToken",
  "metadata.authorization",
];

/** Options of `createLogger`. */
export interface LoggerOptions {
  level: LogLevel;
  /** Fields on every line (e.g. agent id, region). */
  base?: Record<string, unknown>;
  /** @default process.stdout (pino's default) */
  destination?: NodeJS.WritableStream;
}

/** The agent's root logger: JSON lines, secrets redacted. Only `main.ts` should create one. */
export function createLogger(options: LoggerOptions): Logger {
  const opts = {
    level: options.level,
    base: { pid: process.pid, ...options.base },
    redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
