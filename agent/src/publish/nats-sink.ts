import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { createBackoff } from "../backoff.js";
import { UnavailableError } from "../errors.js";
import { sleep } from "../sleep.js";
import type { ResultSink } from "./result-sink.js";

/** Options of `createNatsSink`. */
export interface NatsSinkOptions {
  servers: string[];
  /** Client name shown by the server's monitoring (the agent id). */
  name: string;
  log: Logger;
  /** How long a publish waits for the JetStream ack. @default 5000 */
  publishTimeoutMs?: number;
  /** Handshake timeout of one connection attempt. @default 5000 */
  connectTimeoutMs?: number;
  /** Wait between reconnect attempts of an established connection. @default 1000 */
  reconnectWaitMs?: number;
  /** Interval of client pings; a dead server is noticed after pingInterval * maxPingOut. @default 5000 */
  pingIntervalMs?: number;
  /** PROBEMESH_CA_FILE: TLS verified against this CA. @default TLS only if the server asks, against system CAs */
  caFile?: string;
  /** The `.creds` to present, asked at every (re)connect so renewed ones are used. @default none */
  credentials?: () => Uint8Array | undefined;
  /** Prefix of the client's inboxes (where publish acks arrive), the only subjects it may subscribe to. @default "_INBOX" */
  inboxPrefix?: string;
  /** Awaited before the first connection attempt (e.g. fetching credentials). @default none */
  beforeConnect?: () => Promise<void>;
}

/** A `ResultSink` publishing to JetStream over a connection it keeps alive itself. */
export interface NatsSink extends ResultSink {
  /** Starts connecting in the background; results go to the outbox until it succeeds. */
  start(): void;
  /** Reconnects now (e.g. with renewed credentials); nothing when not connected. */
  reconnect(): void;
  /** Drains and closes the connection. */
  close(): Promise<void>;
}

/**
 * Creates the JetStream sink. The first connection is retried forever with jittered backoff (the
 * agent must start and probe even when NATS is down); once connected the client reconnects itself.
 */
export function createNatsSink(options: NatsSinkOptions): NatsSink {
  const log = options.log.child({ component: "nats" });
  const publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  const listeners = new Set<(up: boolean) => void>();
  const backoff = createBackoff({ initialMs: 250, maxMs: 15_000 });
  let nc: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  let up = false;
  let closing = false;
  let loop: Promise<void> | undefined;
  const closed = new AbortController();

  const setUp = (value: boolean) => {
    if (up === value) return;
    up = value;
    for (const l of listeners) l(value);
  };

  const watch = async (conn: NatsConnection) => {
    for await (const s of conn.status()) {
      if (s.type === "disconnect") {
        log.warn({ server: s.server }, "NATS disconnected");
        setUp(false);
      } else if (s.type === "reconnect") {
        log.info({ server: s.server }, "NATS reconnected");
        setUp(true);
      }
    }
  };

  const creds = options.credentials;
  // Asked at each (re)connect; no credentials means connecting without (a server without auth).
  const authenticator = creds
    ? (nonce?: string) => {
        const current = creds();
        return current ? credsAuthenticator(current)(nonce) : undefined;
      }
    : undefined;

  const run = async () => {
    await options.beforeConnect?.();
    while (!closing) {
      let conn: NatsConnection;
      try {
        conn = await connect({
          servers: options.servers,
          name: options.name,
          timeout: options.connectTimeoutMs ?? 5000,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: options.reconnectWaitMs ?? 1000,
          pingInterval: options.pingIntervalMs ?? 5000,
          maxPingOut: 3,
          // Otherwise every publish builds two Error objects (stack traces) in case its ack times out.
          noAsyncTraces: true,
          ...(options.caFile ? { tls: { caFile: options.caFile } } : {}),
          ...(authenticator ? { authenticator } : {}),
          ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
        });
      } catch (err) {
        const delay = backoff.next();
        const fields = { err: (err as Error).message, retryInMs: delay, attempt: backoff.attempts() };
        if (backoff.attempts() === 1) log.warn(fields, "cannot connect to NATS; results go to the outbox meanwhile");
        else log.debug(fields, "NATS connect retry failed");
        await sleep(delay, closed.signal);
        continue;
      }
      if (closing) {
        await conn.close().catch(() => undefined);
        return;
      }
      backoff.reset();
      nc = conn;
      js = jetstream(conn);
      log.info({ server: conn.getServer() }, "connected to NATS");
      setUp(true);
      void watch(conn).catch((err: unknown) => log.debug({ err }, "NATS status watch ended"));
      const closedWith = await conn.closed();
      setUp(false);
      nc = undefined;
      js = undefined;
      if (!closing)
        log.warn(
          { err: closedWith instanceof Error ? closedWith.message : undefined },
          "NATS connection closed; connecting again",
        );
    }
  };

  return {
    start() {
      loop ??= run().catch((err: unknown) => log.error({ err }, "NATS connection loop failed"));
    },
    async publish(subject, data, msgId) {
      const client = js;
      if (!client || !up) throw new UnavailableError("not connected to NATS");
      await client.publish(subject, data, { msgID: msgId, timeout: publishTimeoutMs });
    },
    isUp: () => up,
    reconnect() {
      const conn = nc;
      if (conn && !conn.isClosed())
        conn.reconnect().catch((err: unknown) => log.debug({ err }, "NATS reconnect request failed"));
    },
    onUpChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closing = true;
      closed.abort();
      const conn = nc;
      if (conn && !conn.isClosed()) await conn.drain().catch(() => conn.close());
      await loop;
      setUp(false);
    },
  };
}
