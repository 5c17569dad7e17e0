import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startClickHouse, type ClickHouseServer } from "./clickhouse.js";
import { startNats, startSecureNats, type NatsServer, type SecureNatsServer } from "./nats.js";
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
}): Promise<ControlPlane> {
  const host = opts.host ?? "127.0.0.1";
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
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
  const stateDir = mkdtempSync(join(tmpdir(), `probemesh-agent-${opts.id}-`));
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

/**
 * A whole local mesh: NATS, ClickHouse, a control plane and one enrolled agent per region
 * (`agent-<region>`).
 */
export interface Mesh {
  readonly nats: NatsServer;
  /** The same server with its trust material (admin and agent connections), unless `secure: false`. */
  readonly secureNats: SecureNatsServer | undefined;
  readonly ch: ClickHouseServer;
  /** The current control plane (replaced by `restartControlPlane`). */
  readonly cp: ControlPlane;
  readonly agents: readonly Agent[];
  /** Stops the control plane and starts a new one on the same NATS and ClickHouse (new ports). */
  restartControlPlane(): Promise<ControlPlane>;
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
 */
export async function startMesh(opts: {
  regions: readonly string[];
  env?: Record<string, string>;
  secure?: boolean;
}): Promise<Mesh> {
  const [secureNats, ch] = await Promise.all([
    (opts.secure ?? true) ? startSecureNats() : undefined,
    startClickHouse(),
  ]);
  const nats: NatsServer = secureNats ?? (await startNats());
  const secure = secureNats ? { caFile: secureNats.caFile, env: secureNats.env } : undefined;
  const launch = () =>
    startControlPlane({
      natsUrl: nats.url,
      clickhouseUrl: ch.url,
      ...(secure ? { caFile: secure.caFile } : {}),
      env: { ...secure?.env, ...opts.env },
    });
  let cp = await launch();
  const agents: Agent[] = [];
  for (const region of opts.regions)
    agents.push(
      await startEnrolledAgent(cp, {
        id: `agent-${region}`,
        region,
        grpcAddr: cp.grpcAddr,
        natsUrl: nats.url,
        ...(secure ? { caFile: secure.caFile } : {}),
        ...(opts.env ? { env: opts.env } : {}),
      }),
    );
  return {
    nats,
    secureNats,
    ch,
    get cp() {
      return cp;
    },
    agents,
    async restartControlPlane() {
      await cp.stop();
      cp = await launch();
      return cp;
    },
    diagnostics: (tailChars = 3000) =>
      [cp, ...agents].map((p) => `--- ${p.proc.name} ---\n${p.proc.output().slice(-tailChars)}`).join("\n"),
    async dispose() {
      await Promise.all(agents.map((a) => a.dispose()));
      await cp.stop();
      await Promise.all([nats.dispose(), ch.dispose()]);
    },
  };
}

export { freePort, waitFor, waitForPort };
