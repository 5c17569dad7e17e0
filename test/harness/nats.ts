import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { freePort } from "./ports.js";
import { startProcess, waitForPort, type Managed } from "./process.js";
import { initTrust } from "./trust-init.js";

/** A private nats-server with JetStream, on a port it chose itself, storing in a temp dir. */
export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly proc: Managed;
  /** Stops the server (SIGTERM), keeping its store dir so that `restart()` finds its streams again. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops it and removes its store dir. */
  dispose(): Promise<void>;
}

/**
 * Starts `nats-server -js` (Debian's package, 2.9) on `host` (default 127.0.0.1). The server binds
 * port 0 itself (`-p -1`) and reports the port it got in a ports file: asking the kernel for a free
 * port first and passing it on is a race another process can win between the two steps.
 */
export async function startNats(opts: { host?: string } = {}): Promise<NatsServer> {
  const host = opts.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "probemesh-nats-"));
  const store = join(dir, "store");
  return launchServer({ host, dir, scheme: "nats", args: ["-js", "-a", host, "-sd", store] });
}

/** A nats-server in operator mode with TLS required, configured by `probemesh-control-plane init`. */
export interface SecureNatsServer extends NatsServer {
  /** The directory `init` wrote (CA, certificates, NATS identities, control-plane.env). */
  readonly dir: string;
  /** The CA every client verifies the server against (PROBEMESH_CA_FILE). */
  readonly caFile: string;
  /** The control plane's NATS user (PROBEMESH_NATS_CREDS). */
  readonly controlPlaneCreds: string;
  /** The account signing key agents' credentials are minted with (PROBEMESH_NATS_SIGNING_KEY_FILE). */
  readonly signingKeyFile: string;
  /** control-plane.env as written by init, with PROBEMESH_NATS_URL pointing at this server's port. */
  readonly env: Readonly<Record<string, string>>;
  /** A TLS connection verified against the CA, as the control plane's user unless other `.creds` are given. */
  connect(opts?: { creds?: string | Uint8Array; inboxPrefix?: string }): Promise<NatsConnection>;
}

/**
 * Runs the built `probemesh-control-plane init` in a temp dir (once per test run: `initTrust`) and starts nats-server with the
 * configuration it wrote: operator mode (preloaded memory resolver), TLS required, JetStream. The
 * port comes from `-p -1`, which overrides the file's `listen` port (the host stays).
 */
export async function startSecureNats(opts: { sans?: readonly string[] } = {}): Promise<SecureNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-secure-nats-"));
  const trust = join(dir, "trust");
  await initTrust(trust, ["--nats-listen", "127.0.0.1:4222", ...(opts.sans ?? []).flatMap((s) => ["--san", s])]);
  const server = await launchServer({
    host: "127.0.0.1",
    dir,
    scheme: "tls",
    args: ["-c", join(trust, "nats", "nats-server.conf")],
  });
  const fileEnv = Object.fromEntries(
    readFileSync(join(trust, "control-plane.env"), "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const),
  );
  const env = { ...fileEnv, PROBEMESH_NATS_URL: server.url };
  const caFile = join(trust, "ca.pem");
  const controlPlaneCreds = join(trust, "control-plane.creds");
  return {
    get url() {
      return server.url;
    },
    get port() {
      return server.port;
    },
    get proc() {
      return server.proc;
    },
    stop: () => server.stop(),
    restart: () => server.restart(),
    dispose: () => server.dispose(),
    dir: trust,
    caFile,
    controlPlaneCreds,
    signingKeyFile: join(trust, "nats-signing-key.nk"),
    env,
    connect: (o = {}) => {
      const creds = o.creds ?? readFileSync(controlPlaneCreds);
      return connect({
        servers: server.url,
        tls: { caFile },
        authenticator: credsAuthenticator(typeof creds === "string" ? new TextEncoder().encode(creds) : creds),
        ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
      });
    },
  };
}

/** One node of a {@link SecureNatsCluster}. */
export interface NatsClusterNode extends NatsServer {
  /** 1-based, as in `node-<i>.conf`; its server_name is `probemesh-nats-<i>`. */
  readonly index: number;
  readonly serverName: string;
  /** Its route (cluster) port. */
  readonly routePort: number;
  /** The current process id (changes on restart). */
  readonly pid: number | undefined;
  /** SIGKILL (a crash): the node's store stays for `restart()`. */
  kill(): Promise<void>;
}

/** A local NATS cluster (operator mode, TLS, mutual-TLS routes) configured by `init --nats-cluster`. */
export interface SecureNatsCluster extends Omit<SecureNatsServer, "proc" | "port" | "connect"> {
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL. */
  readonly urls: readonly string[];
  /** PROBEMESH_NATS_URL for the whole cluster: every node, comma-separated (also `env.PROBEMESH_NATS_URL`). */
  readonly url: string;
  /** The node whose server_name is `name` (as JetStream reports leaders and replicas). */
  node(name: string): NatsClusterNode;
  /**
   * A TLS connection as the control plane's user (or other `.creds`), to any node; with `first`, to
   * that node while it is up (then the others, in order).
   */
  connect(opts?: {
    creds?: string | Uint8Array;
    inboxPrefix?: string;
    first?: NatsClusterNode;
  }): Promise<NatsConnection>;
}

/**
 * Runs `probemesh-control-plane init --nats-cluster N` in a temp dir and starts its N node
 * configurations. Route ports are picked free up front and given on the command line (`--cluster`,
 * `--routes`), client ports by each server itself (`-p -1`, kept across restarts); the rest (TLS,
 * operator, JetStream store `nats/node-<i>/`, server_name, cluster name) is the files as written.
 * Resolves once JetStream has a meta leader.
 */
export async function startSecureNatsCluster(opts: { nodes?: number } = {}): Promise<SecureNatsCluster> {
  const count = opts.nodes ?? 3;
  const dir = mkdtempSync(join(tmpdir(), "probemesh-nats-cluster-"));
  const trust = join(dir, "trust");
  await initTrust(trust, ["--nats-listen", "127.0.0.1:4222", "--nats-cluster", String(count)]);
  const routePorts: number[] = [];
  while (routePorts.length < count) {
    const p = await freePort();
    if (!routePorts.includes(p)) routePorts.push(p);
  }
  const route = (k: number) => `nats-route://127.0.0.1:${routePorts[k]}`;
  const servers = await Promise.all(
    routePorts.map((routePort, k) =>
      launchServer({
        host: "127.0.0.1",
        dir: join(dir, "run", `node-${k + 1}`),
        scheme: "tls",
        args: [
          "-c",
          join(trust, "nats", `node-${k + 1}.conf`),
          "--cluster",
          `nats://127.0.0.1:${routePort}`,
          "--routes",
          routePorts
            .map((_, j) => j)
            .filter((j) => j !== k)
            .map(route)
            .join(","),
        ],
      }),
    ),
  );
  const nodes: NatsClusterNode[] = servers.map((server, k) => ({
    index: k + 1,
    serverName: `probemesh-nats-${k + 1}`,
    routePort: routePorts[k] ?? 0,
    get url() {
      return server.url;
    },
    get port() {
      return server.port;
    },
    get proc() {
      return server.proc;
    },
    get pid() {
      return server.proc.child.pid;
    },
    kill: () => server.proc.kill(),
    stop: () => server.stop(),
    restart: () => server.restart(),
    dispose: () => server.stop(),
  }));
  const urls = nodes.map((n) => n.url);
  const url = urls.join(",");
  const fileEnv = Object.fromEntries(
    readFileSync(join(trust, "control-plane.env"), "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const),
  );
  const caFile = join(trust, "ca.pem");
  const controlPlaneCreds = join(trust, "control-plane.creds");
  const connectTo = (o: { creds?: string | Uint8Array; inboxPrefix?: string; first?: NatsClusterNode } = {}) => {
    const creds = o.creds ?? readFileSync(controlPlaneCreds);
    const first = o.first?.url;
    return connect({
      servers: first ? [first, ...urls.filter((u) => u !== first)] : [...urls],
      ...(first ? { noRandomize: true } : {}),
      tls: { caFile },
      authenticator: credsAuthenticator(typeof creds === "string" ? new TextEncoder().encode(creds) : creds),
      ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
    });
  };
  const cluster: SecureNatsCluster = {
    nodes,
    urls,
    url,
    node(name) {
      const n = nodes.find((x) => x.serverName === name);
      if (!n) throw new Error(`no NATS node named ${name}`);
      return n;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
    async restart() {
      await Promise.all(nodes.map((n) => n.restart()));
    },
    async dispose() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
    dir: trust,
    caFile,
    controlPlaneCreds,
    signingKeyFile: join(trust, "nats-signing-key.nk"),
    env: { ...fileEnv, PROBEMESH_NATS_URL: url },
    connect: connectTo,
  };
  try {
    await waitForJetStreamCluster(cluster);
  } catch (err) {
    const out = nodes.map((n) => `--- ${n.serverName} ---\n${n.proc.output().slice(-2000)}`).join("\n");
    await cluster.dispose();
    throw new Error(`${String(err)}\n${out}`);
  }
  return cluster;
}

/** Waits until JetStream answers account info through every node (the meta leader is elected, routes are up). */
async function waitForJetStreamCluster(cluster: SecureNatsCluster): Promise<void> {
  const creds = readFileSync(cluster.controlPlaneCreds);
  const deadline = Date.now() + 30_000;
  for (const url of cluster.urls) {
    for (;;) {
      const nc = await connect({
        servers: url,
        tls: { caFile: cluster.caFile },
        authenticator: credsAuthenticator(creds),
      }).catch(() => undefined);
      try {
        const r = nc ? await nc.request("$JS.API.INFO", "", { timeout: 1000 }).catch(() => undefined) : undefined;
        const info = r ? (r.json() as { error?: unknown }) : undefined;
        if (info && !info.error) break;
      } finally {
        await nc?.close().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`JetStream cluster not ready through ${url} after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Starts nats-server with `args`, on a port it picks itself, and keeps its dir until `dispose()`. */
async function launchServer(opts: {
  host: string;
  dir: string;
  scheme: "nats" | "tls";
  args: readonly string[];
}): Promise<NatsServer> {
  const { host, dir } = opts;
  const portsDir = join(dir, "ports");
  mkdirSync(portsDir, { recursive: true });
  const launch = async (port: number) => {
    const p = startProcess("nats-server", "nats-server", [
      ...opts.args,
      "-p",
      String(port),
      "--ports_file_dir",
      portsDir,
    ]);
    try {
      const bound = await waitForPortsFile(portsDir, p, 20_000);
      await waitForPort(host === "0.0.0.0" ? "127.0.0.1" : host, bound, 20_000);
      return { proc: p, port: bound };
    } catch (err) {
      await p.stop();
      throw new Error(`nats-server did not start: ${String(err)}\n${p.output()}`);
    }
  };
  const first = await launch(-1);
  const port = first.port;
  let proc = first.proc;
  return {
    url: `${opts.scheme}://${host}:${port}`,
    port,
    get proc() {
      return proc;
    },
    async stop() {
      await proc.stop();
    },
    async restart() {
      await proc.stop();
      // The same port, explicitly: clients reconnect to the URL they were given.
      proc = (await launch(port)).proc;
    },
    async dispose() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits for the ports file nats-server writes (`<executable>_<pid>.ports`) once its listeners are
 * up (it removes the file on exit), and returns the client port in it. Fails at once if the server exits.
 */
async function waitForPortsFile(dir: string, p: Managed, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.exited()) throw new Error("nats-server exited before writing its ports file");
    const port = readPortsFile(dir, p.child.pid);
    if (port !== undefined) return port;
    if (Date.now() > deadline) throw new Error(`no ports file in ${dir} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The client port in the ports file of the nats-server with `pid`, or undefined until it is written. */
function readPortsFile(dir: string, pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const name = readdirSync(dir).find((f) => f.endsWith(`_${pid}.ports`));
  if (!name) return undefined;
  let urls: unknown;
  try {
    // 2.9 writes {"nats":["nats://127.0.0.1:4222", …]}; a half-written file parses on the next poll.
    urls = (JSON.parse(readFileSync(join(dir, name), "utf8")) as { nats?: unknown }).nats;
  } catch {
    return undefined;
  }
  const first = Array.isArray(urls) ? urls[0] : undefined;
  if (typeof first !== "string") throw new Error(`no client URL in ports file ${name}`);
  const port = Number(new URL(first).port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`bad client URL ${first} in ports file ${name}`);
  return port;
}
