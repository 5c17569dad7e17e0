import { existsSync, readFileSync } from "node:fs";
import type { Logger } from "pino";
import { writeFileAtomicSync } from "../atomic-file.js";
import { createBackoff, type BackoffOptions } from "../backoff.js";
import { systemClock, type Clock, type TimerHandle } from "../schedule/clock.js";

/** NATS credentials as the control plane issues them. */
export interface IssuedCredentials {
  /** Standard `.creds` file text. */
  creds: string;
  /** Unix ms after which NATS refuses them. */
  expiresAt: number;
}

/** Options of {@link createNatsCredentials}. */
export interface NatsCredentialsOptions {
  /**
   * Asks the control plane for fresh credentials; resolves undefined when it issues none
   * (FAILED_PRECONDITION); rejects on any other failure (retried with backoff).
   */
  fetch: () => Promise<IssuedCredentials | undefined>;
  /** Where issued credentials are kept (`$PROBEMESH_STATE_DIR/nats.creds`, mode 0600). */
  file: string;
  /** PROBEMESH_NATS_CREDS: used while the control plane issues none. @default none (connect without) */
  fallbackFile?: string;
  log: Logger;
  /** Called after renewed credentials are in place, so the NATS connection can pick them up. */
  onRenewed?: () => void;
  /** Renew when this share of the lifetime has passed. @default 2/3 */
  renewAt?: number;
  /** When the control plane issues none, ask again after this long. @default 300000 */
  recheckMs?: number;
  /** Retry policy of failed fetches. @default { initialMs: 500, maxMs: 30000 } */
  backoff?: BackoffOptions;
  /** @default systemClock() */
  clock?: Clock;
}

/** Keeps the agent's NATS credentials fresh. */
export interface NatsCredentials {
  /** Loads unexpired credentials from the state dir and starts fetching and renewing. */
  start(): void;
  /** Resolves when the first fetch has answered (whatever the answer) or after `timeoutMs`. */
  firstAttempt(timeoutMs: number): Promise<void>;
  /** The `.creds` bytes to connect with now: issued ones while valid, else the fallback file, else undefined. */
  current(): Uint8Array | undefined;
  /** Unix ms the issued credentials expire (0 = none held). */
  expiresAt(): number;
  stop(): void;
}

/** The inbox prefix of an agent's NATS client: its NATS user may subscribe only below it. */
export function agentInboxPrefix(agentId: string): string {
  return `_INBOX_${agentId}`;
}

/** The `exp` (Unix ms) of the user JWT in a `.creds` text, or undefined when it has none or cannot be read. */
export function credsExpiry(creds: string): number | undefined {
  const jwt = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_=.-]+)\s*------END NATS USER JWT------/.exec(creds)?.[1];
  const payload = jwt?.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fetches the agent's NATS credentials from the control plane at start, renews them when
 * `renewAt` of their lifetime has passed, and keeps them in the state dir (atomically, mode 0600)
 * so a restart while the control plane is away still connects. The credentials are never logged.
 */
export function createNatsCredentials(options: NatsCredentialsOptions): NatsCredentials {
  const log = options.log.child({ component: "nats-credentials" });
  const clock = options.clock ?? systemClock();
  const renewAt = options.renewAt ?? 2 / 3;
  const recheckMs = options.recheckMs ?? 300_000;
  const backoff = createBackoff({ initialMs: 500, maxMs: 30_000, ...options.backoff });
  let issued: { bytes: Uint8Array; expiresAt: number } | undefined;
  let timer: TimerHandle | undefined;
  let stopped = false;
  let attempted = false;
  const firstWaiters = new Set<() => void>();

  const fallback = (): Uint8Array | undefined => {
    if (!options.fallbackFile) return undefined;
    try {
      return readFileSync(options.fallbackFile);
    } catch (err) {
      log.warn({ err: (err as Error).message, file: options.fallbackFile }, "cannot read PROBEMESH_NATS_CREDS");
      return undefined;
    }
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = clock.setTimeout(() => void attempt(), Math.max(0, ms));
  };

  const markAttempted = () => {
    attempted = true;
    for (const w of firstWaiters) w();
    firstWaiters.clear();
  };

  const attempt = async () => {
    timer = undefined;
    if (stopped) return;
    try {
      const fresh = await options.fetch();
      if (stopped) return;
      backoff.reset();
      if (!fresh) {
        if (issued)
          log.warn("the control plane no longer issues NATS credentials; keeping the current ones until they expire");
        else
          log.info(
            { fallback: options.fallbackFile ?? null },
            "the control plane issues no NATS credentials; connecting with PROBEMESH_NATS_CREDS or none",
          );
        schedule(recheckMs);
        return;
      }
      const now = clock.now();
      if (!(fresh.expiresAt > now)) throw new Error("the control plane issued credentials that have already expired");
      writeFileAtomicSync(options.file, fresh.creds);
      const first = issued === undefined;
      issued = { bytes: Buffer.from(fresh.creds, "utf8"), expiresAt: fresh.expiresAt };
      const renewInMs = Math.max(1000, Math.floor((fresh.expiresAt - now) * renewAt));
      log.info(
        { expiresAt: new Date(fresh.expiresAt).toISOString(), renewInMs },
        first ? "NATS credentials received" : "NATS credentials renewed",
      );
      schedule(renewInMs);
      options.onRenewed?.();
    } catch (err) {
      if (stopped) return;
      const delay = backoff.next();
      const left = issued ? issued.expiresAt - clock.now() : 0;
      // Only worth a warning once credentials are at risk; a control plane restart is routine.
      log[issued && left > delay * 2 ? "debug" : "warn"](
        { err: (err as Error).message, retryInMs: delay, validForMs: Math.max(0, left) },
        "cannot get NATS credentials from the control plane",
      );
      schedule(delay);
    } finally {
      if (!attempted) markAttempted();
    }
  };

  return {
    start() {
      if (existsSync(options.file)) {
        const text = readFileSync(options.file, "utf8");
        const exp = credsExpiry(text);
        if (exp !== undefined && exp > clock.now()) {
          issued = { bytes: Buffer.from(text, "utf8"), expiresAt: exp };
          log.info(
            { expiresAt: new Date(exp).toISOString() },
            "using NATS credentials from the state dir until renewed",
          );
        }
      }
      schedule(0);
    },
    firstAttempt(timeoutMs) {
      if (attempted || stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const t = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(t);
          firstWaiters.delete(done);
          resolve();
        }
        firstWaiters.add(done);
      });
    },
    current() {
      if (issued && issued.expiresAt > clock.now()) return issued.bytes;
      return fallback();
    },
    expiresAt: () => issued?.expiresAt ?? 0,
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      markAttempted();
    },
  };
}
