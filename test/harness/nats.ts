import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { CONTROL_PLANE_BIN } from "./bins.js";
import { startProcess, waitForPort, type Managed } from "./process.js";

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
 * Runs the built `probemesh-control-plane init` in a temp dir and starts nats-server with the
 * configuration it wrote: operator mode (preloaded memory resolver), TLS required, JetStream. The
 * port comes from `-p -1`, which overrides the file's `listen` port (the host stays).
 */
export async function startSecureNats(opts: { sans?: readonly string[] } = {}): Promise<SecureNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-secure-nats-"));
  const trust = join(dir, "trust");
  const init = spawnSync(
    process.execPath,
    [
      CONTROL_PLANE_BIN,
      "init",
      "--dir",
      trust,
      "--nats-listen",
      "127.0.0.1:4222",
      ...(opts.sans ?? []).flatMap((s) => ["--san", s]),
    ],
    { encoding: "utf8" },
  );
  if (init.status !== 0) throw new Error(`probemesh-control-plane init failed:\n${init.stdout}${init.stderr}`);
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
