import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  const portsDir = join(dir, "ports");
  mkdirSync(portsDir);
  const launch = async (port: number) => {
    const p = startProcess("nats-server", "nats-server", [
      "-js",
      "-a",
      host,
      "-p",
      String(port),
      "-sd",
      store,
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
    url: `nats://${host}:${port}`,
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
