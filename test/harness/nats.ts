import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitForPort, type Managed } from "./process.js";

/** A private nats-server with JetStream, on a free port, storing in a temp dir. */
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

/** Starts `nats-server -js` (Debian's package) on `host` (default 127.0.0.1) and a free port. */
export async function startNats(opts: { host?: string } = {}): Promise<NatsServer> {
  const host = opts.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "probemesh-nats-"));
  const port = await freePort(host);
  const launch = async () => {
    const p = startProcess("nats-server", "nats-server", ["-js", "-a", host, "-p", String(port), "-sd", dir]);
    await waitForPort(host, port, 20_000).catch((err: unknown) => {
      throw new Error(`nats-server did not start: ${String(err)}\n${p.output()}`);
    });
    return p;
  };
  let proc = await launch();
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
      proc = await launch();
    },
    async dispose() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
