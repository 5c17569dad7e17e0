import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitFor, type Managed } from "./process.js";

const templates = join(import.meta.dirname, "..", "..", "deploy", "clickhouse");

/** SIGTERM, then SIGKILL after this long (a forced kill loses nothing acknowledged: parts are on disk). */
const STOP_GRACE_MS = 10_000;

/** A private clickhouse-server (Debian's 18.16) on free 127.0.0.1 ports, storing in a temp dir. */
export interface ClickHouseServer {
  /** HTTP interface, e.g. http://127.0.0.1:38123 */
  readonly url: string;
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly dir: string;
  readonly proc: Managed;
  /** Runs one statement over HTTP and returns the raw response text; throws with ClickHouse's message. */
  query(sql: string): Promise<string>;
  /** Runs a SELECT with `FORMAT JSONEachRow` appended and parses the rows. */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Stops the server (SIGTERM), keeping its data so that `restart()` finds its tables again. */
  stop(): Promise<void>;
  /** Starts it again (stopping it first if it runs) on the same ports and data; resolves once /ping answers. */
  restart(): Promise<void>;
  /** Kills it (SIGKILL) and removes its temp dir. */
  dispose(): Promise<void>;
}

/** The server binary: Debian ships `clickhouse-server`; newer packages only have `clickhouse server`. */
function serverCommand(): [string, string[]] {
  for (const candidate of ["clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${candidate}`], { stdio: "pipe" });
      return [candidate, []];
    } catch {
      // try the next one
    }
  }
  return ["clickhouse", ["server"]];
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (whole, key: string) => values[key] ?? whole);
}

/**
 * On SIGTERM clickhouse-server waits for open keep-alive connections to time out before it exits, so a
 * short server-side keep-alive keeps stop() quick even while a client pool holds sockets. 3 s stays above
 * @clickhouse/client's 2.5 s idle-socket TTL, so the client never reuses a socket the server just closed.
 */
const KEEP_ALIVE_SECONDS = 3;

/** One HTTP request on its own connection (no keep-alive socket left open to delay shutdown). */
function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: body === "" ? "GET" : "POST", agent: false, headers: { connection: "close" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Starts `clickhouse-server` with a config generated from deploy/clickhouse/{config,users}.xml
 * (ports, paths and logs in its own temp dir) and waits until `GET /ping` says `Ok.`.
 * Runs fine as root: every directory it writes is ours, so no ownership switch is needed.
 */
export async function startClickHouse(opts: { startTimeoutMs?: number } = {}): Promise<ClickHouseServer> {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-clickhouse-"));
  for (const sub of ["log", "data", "tmp", "user_files", "format_schemas"]) mkdirSync(join(dir, sub));
  const [httpPort, tcpPort, interserverPort] = [await freePort(), await freePort(), await freePort()];
  const values = {
    DIR: dir,
    HTTP_PORT: String(httpPort),
    TCP_PORT: String(tcpPort),
    INTERSERVER_PORT: String(interserverPort),
  };
  const config = fill(readFileSync(join(templates, "config.xml"), "utf8"), values).replace(
    /<keep_alive_timeout>\d+<\/keep_alive_timeout>/,
    `<keep_alive_timeout>${KEEP_ALIVE_SECONDS}</keep_alive_timeout>`,
  );
  writeFileSync(join(dir, "config.xml"), config);
  writeFileSync(join(dir, "users.xml"), fill(readFileSync(join(templates, "users.xml"), "utf8"), values));
  const url = `http://127.0.0.1:${httpPort}`;
  const [cmd, prefix] = serverCommand();

  const launch = async (): Promise<Managed> => {
    const p = startProcess("clickhouse-server", cmd, [...prefix, `--config-file=${join(dir, "config.xml")}`], {
      cwd: dir,
    });
    try {
      await waitFor(
        "clickhouse-server /ping",
        async () => {
          if (p.exited()) throw new Error("clickhouse-server exited");
          const res = await post(`${url}/ping`, "").catch(() => undefined);
          return res?.status === 200 && res.text.trim() === "Ok.";
        },
        opts.startTimeoutMs ?? 30_000,
        100,
      );
    } catch (err) {
      await p.stop();
      throw new Error(`clickhouse-server did not start: ${String(err)}\n${p.output()}\n${errorLog()}`);
    }
    return p;
  };
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, "log", "clickhouse-server.err.log"), "utf8").slice(-4_000);
    } catch {
      return "";
    }
  };

  let proc = await launch();
  const query = async (sql: string): Promise<string> => {
    const res = await post(`${url}/`, sql);
    if (res.status !== 200) throw new Error(`ClickHouse ${res.status}: ${res.text.trim()}`);
    return res.text;
  };
  return {
    url,
    httpPort,
    tcpPort,
    dir,
    get proc() {
      return proc;
    },
    query,
    async rows<T>(sql: string) {
      const text = await query(`${sql} FORMAT JSONEachRow`);
      return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as T);
    },
    async stop() {
      await proc.stop(STOP_GRACE_MS);
    },
    async restart() {
      await proc.stop(STOP_GRACE_MS);
      proc = await launch();
    },
    async dispose() {
      // Nothing reads the data again: no graceful stop (18.16 can take tens of seconds over it).
      await proc.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
