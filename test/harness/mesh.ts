import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startClickHouse, type ClickHouseServer } from "./clickhouse.js";
import {
  startNats,
  startSecureNats,
  startSecureNatsCluster,
  type NatsServer,
  type SecureNatsCluster,
  type SecureNatsServer,
} from "./nats.js";
import { freePort } from "./ports.js";
import { startProcess, waitFor, waitForPort, type Managed } from "./process.js";

import { AGENT_BIN, CONTROL_PLANE_BIN } from "./bins.js";
import { fetchTrusting } from "./https-fetch.js";

export { AGENT_BIN, CONTROL_PLANE_BIN };

export const API_TOKEN = "test-api-token";
/**
 * A well-formed agent token no control plane knows: for agents that never reach one (they probe
 * from their assignment cache) or tests that expect to be refused.
 */
export const UNENROLLED_AGENT_TOKEN = "pma_not-enrolled-anywhere";
/** PROBEMESH_SECRET_KEY of every control plane a test process starts (one key, so restarts read what was sealed). */
export const SECRET_KEY = `test:${randomBytes(32).toString("base64")}`;

/** A control-plane process started from its built bin. */
export interface ControlPlane {
  readonly api: string;
  readonly grpcAddr: string;
  readonly proc: Managed;
  /** fetch against the API with the bootstrap admin token. */
  request(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** Starts `probemesh-control-plane` against the given NATS and ClickHouse and waits for /readyz. */
export async function startControlPlane(opts: {
  natsUrl: string;
  clickhouseUrl: string;
  database?: string;
  env?: Record<string, string>;
  /** Run the process inside this network namespace (`ip netns exec`). */
  netns?: string;
  host?: string;
  /** Serve TLS: `env` holds PROBEMESH_TLS_CERT/KEY (e.g. a SecureNatsServer's env); the API is reached over HTTPS trusting this CA. */
  caFile?: string;
  /** Listen on these ports (a restart at the same addresses); default free ones. */
  ports?: { http: number; grpc: number };
}): Promise<ControlPlane> {
  const host = opts.host ?? "127.0.0.1";
  const [httpPort, grpcPort] = opts.ports ? [opts.ports.http, opts.ports.grpc] : [await freePort(), await freePort()];
  const env = {
    ...process.env,
    PROBEMESH_NATS_URL: opts.natsUrl,
    PROBEMESH_CLICKHOUSE_URL: opts.clickhouseUrl,
    PROBEMESH_CLICKHOUSE_DATABASE: opts.database ?? "probemesh",
    PROBEMESH_HTTP_ADDR: `${host}:${httpPort}`,
    PROBEMESH_GRPC_ADDR: `${host}:${grpcPort}`,
    PROBEMESH_API_TOKEN: API_TOKEN,
    PROBEMESH_SECRET_KEY: SECRET_KEY,
    PROBEMESH_LOG_LEVEL: "info",
    // Plaintext tests may listen on a namespace's non-loopback address; secure ones use TLS.
    ...(opts.caFile ? {} : { PROBEMESH_INSECURE: "true" }),
    ...opts.env,
  };
  const [cmd, args] = opts.netns
    ? ["ip", ["netns", "exec", opts.netns, process.execPath, CONTROL_PLANE_BIN]]
    : [process.execPath, [CONTROL_PLANE_BIN]];
  const proc = startProcess("control-plane", cmd, args, { env });
  const api = `${opts.caFile ? "https" : "http"}://${host}:${httpPort}`;
  const fetch = opts.caFile ? fetchTrusting(readFileSync(opts.caFile)) : globalThis.fetch;
  const token = env.PROBEMESH_API_TOKEN;
  try {
    await waitFor(
      "control plane /readyz",
      async () => {
        if (proc.exited()) throw new Error("control plane exited");
        const res = await fetch(`${api}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      60_000,
      200,
    );
  } catch (err) {
    await proc.stop();
    throw new Error(`${String(err)}\n--- control-plane output ---\n${proc.output()}`);
  }
  return {
    api,
    grpcAddr: `${host}:${grpcPort}`,
    proc,
    request: (path, init = {}) =>
      fetch(`${api}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers ?? {}) },
      }),
    stop: () => proc.stop(),
  };
}

/** An agent process started from its built bin, with its own state dir. */
export interface Agent {
  readonly id: string;
  readonly region: string;
  readonly stateDir: string;
  readonly proc: Managed;
  stop(): Promise<void>;
  /** Stops it and removes its state dir. */
  dispose(): Promise<void>;
}

/** Options of {@link startAgent}. */
export interface AgentOptions {
  id: string;
  region: string;
  provider?: string;
  /** Its PROBEMESH_AGENT_TOKEN: from {@link enrollAgent}, or {@link UNENROLLED_AGENT_TOKEN}. */
  token: string;
  grpcAddr: string;
  natsUrl: string;
  netns?: string;
  env?: Record<string, string>;
  /** Verify the control plane (gRPC) and NATS against this CA (PROBEMESH_CA_FILE); gRPC then uses TLS. */
  caFile?: string;
  /** Reuse this state dir (an agent restarted after a crash finds its outbox and sequence); default a new temp dir. */
  stateDir?: string;
}

/** Enrolls an agent on the control plane (`POST /v1/agents`) and returns its token. */
export async function enrollAgent(
  cp: Pick<ControlPlane, "request">,
  agent: { id: string; region: string; provider?: string },
): Promise<string> {
  const res = await cp.request("/v1/agents", {
    method: "POST",
    body: JSON.stringify({ id: agent.id, region: agent.region, provider: agent.provider ?? "test" }),
  });
  if (res.status !== 201) throw new Error(`enrolling ${agent.id}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Enrolls an agent on `cp`, then starts it with its token. */
export async function startEnrolledAgent(
  cp: Pick<ControlPlane, "request">,
  opts: Omit<AgentOptions, "token">,
): Promise<Agent> {
  const token = await enrollAgent(cp, opts);
  return startAgent({ ...opts, token });
}

/** Starts `probemesh-agent` for a region. */
export function startAgent(opts: AgentOptions): Agent {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), `probemesh-agent-${opts.id}-`));
  const env = {
    ...process.env,
    PROBEMESH_AGENT_ID: opts.id,
    PROBEMESH_REGION: opts.region,
    PROBEMESH_PROVIDER: opts.provider ?? "test",
    PROBEMESH_GRPC_ADDR: opts.grpcAddr,
    PROBEMESH_NATS_URL: opts.natsUrl,
    PROBEMESH_AGENT_TOKEN: opts.token,
    PROBEMESH_STATE_DIR: stateDir,
    PROBEMESH_LOG_LEVEL: "info",
    // Plaintext tests may reach the control plane on a namespace's non-loopback address.
    ...(opts.caFile ? { PROBEMESH_CA_FILE: opts.caFile } : { PROBEMESH_INSECURE: "true" }),
    ...opts.env,
  };
  const [cmd, args] = opts.netns
    ? ["ip", ["netns", "exec", opts.netns, process.execPath, AGENT_BIN]]
    : [process.execPath, [AGENT_BIN]];
  const proc = startProcess(`agent-${opts.id}`, cmd, args, { env });
  return {
    id: opts.id,
    region: opts.region,
    stateDir,
    proc,
    stop: () => proc.stop(),
    async dispose() {
      await proc.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A replica run in a network namespace (see `startMesh`'s `replicaPlacement`). */
export interface ReplicaPlacement {
  netns: string;
  /** Address it listens on (API and gRPC), reachable from the root namespace. */
  host: string;
  natsUrl: string;
  clickhouseUrl: string;
}

/**
 * A whole local mesh: NATS, ClickHouse, one or more control-plane replicas and one enrolled agent per
 * region (`agent-<region>`).
 */
export interface Mesh {
  /** NATS as a whole (with `natsNodes` > 1: `url` lists every node, stop/restart act on all). */
  readonly nats: NatsServer;
  /** With `natsNodes` > 1: the cluster, node by node. */
  readonly natsCluster?: SecureNatsCluster;
  /** The same server with its trust material (admin and agent connections), unless `secure: false`. */
  readonly secureNats: SecureNatsServer | undefined;
  readonly ch: ClickHouseServer;
  /** The first replica (replaced by `restartControlPlane`). */
  readonly cp: ControlPlane;
  /** Every control-plane replica, by index; `replicaIds[i]` is its PROBEMESH_REPLICA_ID. */
  readonly replicas: readonly ControlPlane[];
  readonly replicaIds: readonly string[];
  readonly agents: readonly Agent[];
  /** Stops the first replica and starts a new one on the same NATS and ClickHouse (new ports: agents lose it). */
  restartControlPlane(): Promise<ControlPlane>;
  /**
   * Starts replica `i` again with the same replica id and ports (after a crash or stop; stops it
   * first if it still runs), so agents find it at the address they were given.
   */
  restartReplica(i: number): Promise<ControlPlane>;
  /**
   * Starts the agent `id` again on its state dir and token (outbox and sequence survive), stopping it
   * first (SIGTERM) if it still runs; `env` is added to its environment (e.g. NODE_OPTIONS).
   */
  restartAgent(id: string, env?: Record<string, string>): Promise<Agent>;
  /** The tail of every program's output, for failure messages. */
  diagnostics(tailChars?: number): string;
  dispose(): Promise<void>;
}

/**
 * Starts a mesh from the built programs, on free ports; `env` goes to the control plane and the
 * agents. Secure by default, as `deploy/up.sh` runs it: NATS in operator mode with TLS
 * (`startSecureNats`), the control plane with the env `init` wrote (TLS gRPC and HTTPS, NATS
 * credentials, signing key), agents enrolled, verifying its CA and getting their NATS credentials
 * from it. `secure: false` runs plain NATS and plaintext gRPC/HTTP (still enrolled agents).
 * `replicas: n` (default 1) starts n control planes on the same NATS and ClickHouse, one after the
 * other (the first creates streams, buckets and tables), each with PROBEMESH_REPLICA_ID
 * `replica-<i>`; agents get every replica's gRPC address (PROBEMESH_GRPC_ADDR="a,b,…").
 */
export async function startMesh(opts: {
  regions: readonly string[];
  env?: Record<string, string>;
  secure?: boolean;
  replicas?: number;
  /** Host plain NATS listens on (`secure: false` only), e.g. `0.0.0.0` for replicas in network namespaces. */
  natsHost?: string;
  /**
   * Where replica `i` runs, when not on 127.0.0.1 of this namespace: inside `netns`, listening on
   * `host`, reaching NATS and ClickHouse at the URLs given (plaintext meshes only).
   */
  replicaPlacement?: (i: number) => ReplicaPlacement | undefined;
  /** Runs once NATS and ClickHouse are up, before the first replica starts (e.g. to relay to them). */
  beforeReplicas?: (servers: { nats: NatsServer; ch: ClickHouseServer }) => Promise<void>;
  /** NATS nodes: > 1 runs a secure local cluster (`startSecureNatsCluster`). @default 1 */
  natsNodes?: number;
  /** PROBEMESH_JETSTREAM_REPLICAS of the control plane. @default 1 (`natsNodes` when that is 3 or more: 3) */
  jetstreamReplicas?: number;
}): Promise<Mesh> {
  const clustered = (opts.natsNodes ?? 1) > 1;
  if (clustered && opts.secure === false) throw new Error("startMesh: a NATS cluster is always secure");
  const [secureNats, ch] = await Promise.all([
    clustered
      ? startSecureNatsCluster({ nodes: opts.natsNodes ?? 3 })
      : (opts.secure ?? true)
        ? startSecureNats()
        : undefined,
    startClickHouse(),
  ]);
  const natsCluster = secureNats && "nodes" in secureNats ? secureNats : undefined;
  const nats: NatsServer =
    natsCluster !== undefined
      ? clusterAsServer(natsCluster)
      : ((secureNats as NatsServer | undefined) ?? (await startNats(opts.natsHost ? { host: opts.natsHost } : {})));
  const secure = secureNats ? { caFile: secureNats.caFile, env: secureNats.env } : undefined;
  const jsReplicas = opts.jetstreamReplicas ?? (clustered ? Math.min(3, opts.natsNodes ?? 3) : undefined);
  const replicaIds = Array.from({ length: Math.max(1, opts.replicas ?? 1) }, (_, i) => `replica-${i}`);
  const launch = (i: number, ports?: { http: number; grpc: number }) => {
    const placed = opts.replicaPlacement?.(i);
    return startControlPlane({
      ...(ports ? { ports } : {}),
      natsUrl: placed?.natsUrl ?? nats.url,
      clickhouseUrl: placed?.clickhouseUrl ?? ch.url,
      ...(placed ? { netns: placed.netns, host: placed.host } : {}),
      ...(secure ? { caFile: secure.caFile } : {}),
      env: {
        ...secure?.env,
        PROBEMESH_REPLICA_ID: replicaIds[i]!,
        ...(jsReplicas !== undefined ? { PROBEMESH_JETSTREAM_REPLICAS: String(jsReplicas) } : {}),
        ...opts.env,
      },
    });
  };
  await opts.beforeReplicas?.({ nats, ch });
  const replicas: ControlPlane[] = [];
  for (let i = 0; i < replicaIds.length; i++) replicas.push(await launch(i));
  const agents: Agent[] = [];
  const tokens = new Map<string, string>();
  const agentOptions = (region: string, env?: Record<string, string>): Omit<AgentOptions, "token"> => ({
    id: `agent-${region}`,
    region,
    grpcAddr: replicas.map((r) => r.grpcAddr).join(","),
    natsUrl: nats.url,
    ...(secure ? { caFile: secure.caFile } : {}),
    ...(opts.env || env ? { env: { ...opts.env, ...env } } : {}),
  });
  for (const region of opts.regions) {
    const o = agentOptions(region);
    const token = await enrollAgent(replicas[0]!, o);
    tokens.set(o.id, token);
    agents.push(startAgent({ ...o, token }));
  }
  return {
    nats,
    ...(natsCluster ? { natsCluster } : {}),
    secureNats: natsCluster ? undefined : (secureNats as SecureNatsServer | undefined),
    ch,
    get cp() {
      return replicas[0]!;
    },
    replicas,
    replicaIds,
    agents,
    async restartControlPlane() {
      await replicas[0]!.stop();
      replicas[0] = await launch(0);
      return replicas[0];
    },
    async restartReplica(i) {
      const old = replicas[i]!;
      await old.stop();
      const port = (addr: string) => Number(addr.slice(addr.lastIndexOf(":") + 1));
      replicas[i] = await launch(i, { http: port(new URL(old.api).host), grpc: port(old.grpcAddr) });
      return replicas[i];
    },
    async restartAgent(id, env) {
      const i = agents.findIndex((a) => a.id === id);
      const old = agents[i];
      if (!old) throw new Error(`no agent ${id}`);
      await old.stop();
      agents[i] = startAgent({ ...agentOptions(old.region, env), token: tokens.get(id)!, stateDir: old.stateDir });
      return agents[i];
    },
    diagnostics: (tailChars = 3000) =>
      [...replicas, ...agents].map((p) => `--- ${p.proc.name} ---\n${p.proc.output().slice(-tailChars)}`).join("\n"),
    async dispose() {
      await Promise.all(agents.map((a) => a.dispose()));
      await Promise.all(replicas.map((r) => r.stop()));
      await Promise.all([nats.dispose(), ch.dispose()]);
    },
  };
}

/** A cluster seen as one server: its URL lists every node; stop, restart and dispose act on all of them. */
function clusterAsServer(c: SecureNatsCluster): NatsServer {
  const first = c.nodes[0];
  if (!first) throw new Error("a NATS cluster without nodes");
  return {
    url: c.url,
    port: first.port,
    get proc() {
      return first.proc;
    },
    stop: () => c.stop(),
    restart: () => c.restart(),
    dispose: () => c.dispose(),
  };
}

export { freePort, waitFor, waitForPort };

/**
 * Waits until `GET /v1/checks/{checkId}/status` on `cp` says `down` with an outage; returns that status
 * (typed as the caller's status body).
 */
export function waitForOutage<S extends { state: string; outage?: unknown }>(
  cp: Pick<ControlPlane, "request">,
  checkId: string,
  timeoutMs = 15_000,
): Promise<S> {
  return waitFor(
    `${checkId} down with an outage`,
    async () => {
      const s = (await (await cp.request(`/v1/checks/${encodeURIComponent(checkId)}/status`)).json()) as S;
      return s.state === "down" && s.outage ? s : undefined;
    },
    timeoutMs,
    200,
  );
}
