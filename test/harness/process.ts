import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createConnection } from "node:net";

/** A child process started by a test, with its output kept for failure messages. */
export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  /** Last ~64 KiB of combined stdout/stderr. */
  output(): string;
  /** Sends SIGTERM (then SIGKILL after `graceMs`) to this process only, and waits for its exit. */
  stop(graceMs?: number): Promise<void>;
  /** Sends SIGKILL and waits for exit (a crash, for fault tests). */
  kill(): Promise<void>;
  exited(): boolean;
}

/** Starts a process and captures its output. The caller stops it by its handle (PID), never by name. */
export function startProcess(name: string, cmd: string, args: string[], options: SpawnOptions = {}): Managed {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let buf = "";
  const keep = (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    if (buf.length > 65_536) buf = buf.slice(-65_536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let done = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      done = true;
      resolve();
    });
    child.once("error", (err) => {
      buf += `\n[spawn error] ${String(err)}`;
      done = true;
      resolve();
    });
  });
  return {
    name,
    child,
    output: () => buf,
    exited: () => done,
    async stop(graceMs = 5_000) {
      if (done) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exit;
      clearTimeout(timer);
    },
    async kill() {
      if (done) return;
      child.kill("SIGKILL");
      await exit;
    },
  };
}

/** Resolves when `fn` returns a truthy value; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves once a TCP connection to host:port succeeds. */
export async function waitForPort(host: string, port: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${host}:${port} to accept connections`,
    () =>
      new Promise<boolean>((resolve) => {
        const sock = createConnection({ host, port });
        sock.once("connect", () => {
          sock.destroy();
          resolve(true);
        });
        sock.once("error", () => resolve(false));
      }),
    timeoutMs,
  );
}
