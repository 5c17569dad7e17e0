import { credentials, status, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { AgentService, createGrpcClient, type GrpcClient } from "@probemesh/proto";
import type { Logger } from "pino";

/** The agent service's gRPC client, at one replica. */
export type AgentServiceClient = GrpcClient<typeof AgentService>;

/** Transport keepalive settings (grpc channel options). */
export interface KeepaliveOptions {
  /** Ping the server after this long without activity. @default 20000 */
  timeMs?: number;
  /** Drop the connection when a ping is not answered within this. @default 10000 */
  timeoutMs?: number;
  /** Ping even with no call in flight. @default true */
  permitWithoutCalls?: boolean;
}

/** Options of {@link createControlPlaneReplicas}. */
export interface ControlPlaneReplicasOptions {
  /** host:port of every replica (PROBEMESH_GRPC_ADDR), at least one, in configured order. */
  addrs: readonly string[];
  /** Picks the starting replica, so that a fleet spreads over the list; the same id always starts at the same one. */
  agentId: string;
  /** Transport security towards every replica (TLS verifies each address's own host name). @default plaintext */
  channelCredentials?: ChannelCredentials;
  /** @default { timeMs: 20000, timeoutMs: 10000, permitWithoutCalls: true } */
  keepalive?: KeepaliveOptions;
  log: Logger;
}

/** A listener told after the agent moved to another replica. */
export type MoveListener = (move: { from: string; to: string; reason: string }) => void;

/**
 * The control-plane replicas an agent may talk to, and the one it talks to now. Every RPC
 * (assignment stream, heartbeats, NATS credentials) goes to the current one, so an agent is served
 * by one replica at a time; a failure on it moves everything on to the next address in the list.
 */
export interface ControlPlaneReplicas {
  /** Every configured address, in configured order. */
  readonly addrs: readonly string[];
  /** The address in use. */
  current(): string;
  /** The client of the address in use (one channel per address, created on first use). */
  client(): AgentServiceClient;
  /**
   * Moves on to the next address after a failure seen on `from`. Ignored when `from` is no longer
   * the current address (another call already moved) or when there is only one address.
   * @returns whether the agent moved
   */
  moveOn(from: string, reason: string): boolean;
  /** Registers a listener of moves; returns its removal. */
  onMove(listener: MoveListener): () => void;
  /** Closes every channel. */
  close(): void;
}

/** Codes of a unary call that say "this replica is not answering", as opposed to a refusal of the request. */
const REPLICA_FAILURE_CODES: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

/** True when a unary call's error code means the replica itself failed (UNAVAILABLE, DEADLINE_EXCEEDED). */
export function isReplicaFailure(code: number | undefined): boolean {
  return code !== undefined && REPLICA_FAILURE_CODES.has(code);
}

/** The name of a gRPC status code, for logs ("UNAVAILABLE"). */
export function codeName(code: number): string {
  return (status as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/**
 * Index of the replica an agent starts at: FNV-1a (32 bit) of its id modulo `count`. Stable across
 * restarts, processes and platforms, and spread evenly enough over a fleet's ids.
 */
export function startingReplica(agentId: string, count: number): number {
  if (count <= 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(agentId, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** Creates the replica set; no connection is made until a client is used. */
export function createControlPlaneReplicas(options: ControlPlaneReplicasOptions): ControlPlaneReplicas {
  if (options.addrs.length === 0) throw new RangeError("at least one control-plane address is needed");
  const addrs = [...options.addrs];
  const log = options.log.child({ component: "control-plane-replicas" });
  const keepalive = { timeMs: 20_000, timeoutMs: 10_000, permitWithoutCalls: true, ...options.keepalive };
  const channelOptions: ChannelOptions = {
    "grpc.keepalive_time_ms": keepalive.timeMs,
    "grpc.keepalive_timeout_ms": keepalive.timeoutMs,
    "grpc.keepalive_permit_without_calls": keepalive.permitWithoutCalls ? 1 : 0,
    // Channel-level reconnects follow the same bounds as the stream's.
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 15_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  };
  const channelCredentials = options.channelCredentials ?? credentials.createInsecure();
  const clients = new Map<string, AgentServiceClient>();
  const listeners = new Set<MoveListener>();
  let index = startingReplica(options.agentId, addrs.length);
  let closed = false;
  const at = (i: number) => addrs[i] as string;

  if (addrs.length > 1)
    log.info({ addr: at(index), replicas: addrs }, "starting with this control-plane replica (picked by agent id)");

  return {
    addrs,
    current: () => at(index),
    client() {
      const addr = at(index);
      let c = clients.get(addr);
      if (!c) {
        // One channel per address: TLS checks the certificate against that address's host name.
        c = createGrpcClient(AgentService, addr, channelCredentials, channelOptions);
        if (closed) c.close();
        else clients.set(addr, c);
      }
      return c;
    },
    moveOn(from, reason) {
      if (closed || addrs.length === 1 || from !== at(index)) return false;
      index = (index + 1) % addrs.length;
      const to = at(index);
      log.warn({ from, to, reason }, `moving to control-plane replica ${to}: ${reason}`);
      for (const l of listeners) {
        try {
          l({ from, to, reason });
        } catch (err) {
          log.error({ err }, "replica move listener threw");
        }
      }
      return true;
    },
    onMove(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      listeners.clear();
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}
