import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitFor, waitForPort, type Managed } from "./process.js";

/** A private HAProxy with one HTTP frontend, one backend and an admin-level runtime API socket. */
export interface HaproxyServer {
  /** Unix socket of the runtime API (level admin). */
  readonly socket: string;
  /** "http://127.0.0.1:<port>" of the frontend. */
  readonly url: string;
  readonly backend: string;
  readonly proc: Managed;
  /** Sends one runtime API command (independently of the code under test) and returns its output. */
  command(cmd: string): Promise<string>;
  /** Stops haproxy (by PID) and removes its directory. */
  dispose(): Promise<void>;
}

/** Starts Debian's `haproxy -db` with backend `backend` holding `servers` (name -> "host:port"). */
export async function startHaproxy(opts: {
  backend?: string;
  servers: Record<string, string>;
}): Promise<HaproxyServer> {
  const backend = opts.backend ?? "be_app";
  const dir = mkdtempSync(join(tmpdir(), "probemesh-haproxy-"));
  const socket = join(dir, "admin.sock");
  const port = await freePort();
  const servers = Object.entries(opts.servers).map(([name, addr]) => `  server ${name} ${addr}`);
  writeFileSync(
    join(dir, "haproxy.cfg"),
    [
      "global",
      `  stats socket ${socket} mode 600 level admin`,
      "defaults",
      "  mode http",
      "  timeout connect 1s",
      "  timeout client 5s",
      "  timeout server 5s",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      `  default_backend ${backend}`,
      `backend ${backend}`,
      "  balance roundrobin",
      ...servers,
      "",
    ].join("\n"),
  );
  const proc = startProcess("haproxy", "haproxy", ["-db", "-f", join(dir, "haproxy.cfg")]);
  const command = (cmd: string) =>
    new Promise<string>((resolve, reject) => {
      const sock = createConnection(socket);
      let out = "";
      sock.setEncoding("utf8");
      sock.on("data", (d: string) => (out += d));
      sock.on("error", reject);
      sock.on("end", () => resolve(out));
      sock.write(`${cmd}\n`);
    });
  const stopAll = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort("127.0.0.1", port, 20_000);
    await waitFor(
      "haproxy runtime API",
      async () => {
        if (proc.exited()) throw new Error("haproxy exited");
        return (await command("show info").catch(() => "")).includes("Name: HAProxy");
      },
      20_000,
    );
  } catch (err) {
    await stopAll();
    throw new Error(`${String(err)}\n--- haproxy output ---\n${proc.output()}`);
  }
  return { socket, url: `http://127.0.0.1:${port}`, backend, proc, command, dispose: stopAll };
}
