import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitFor, waitForPort, type Managed } from "./process.js";

const SCHEMA = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";

/** A private PowerDNS Authoritative server (gsqlite3 backend) with its HTTP API on. */
export interface PowerdnsServer {
  /** "127.0.0.1:<port>" for DNS. */
  readonly dnsAddr: string;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8081. */
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly zone: string;
  readonly proc: Managed;
  /** Stops pdns_server (by PID) and removes its directory. */
  dispose(): Promise<void>;
}

/** Starts Debian's `pdns_server` on free ports with a fresh sqlite database and creates `zone` with `records`. */
export async function startPowerdns(
  opts: { zone?: string; records?: Record<string, string[]>; ttl?: number } = {},
): Promise<PowerdnsServer> {
  const zone = opts.zone ?? "example.test.";
  const dir = mkdtempSync(join(tmpdir(), "probemesh-pdns-"));
  const [dnsPort, apiPort] = [await freePort(), await freePort()];
  const apiKey = `pdns-test-key-${process.pid}`;
  const db = join(dir, "pdns.sqlite3");
  execFileSync("sqlite3", [db], { input: `.read ${SCHEMA}\n`, stdio: ["pipe", "pipe", "pipe"] });
  writeFileSync(
    join(dir, "pdns.conf"),
    [
      "launch=gsqlite3",
      `gsqlite3-database=${db}`,
      "local-address=127.0.0.1",
      `local-port=${dnsPort}`,
      "api=yes",
      `api-key=${apiKey}`,
      "webserver=yes",
      "webserver-address=127.0.0.1",
      `webserver-port=${apiPort}`,
      "webserver-allow-from=127.0.0.0/8",
      `socket-dir=${dir}`,
      "guardian=no",
      "daemon=no",
      "disable-syslog=yes",
      "write-pid=no",
      "loglevel=4",
      "",
    ].join("\n"),
  );
  const proc = startProcess("pdns_server", "pdns_server", [`--config-dir=${dir}`]);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const stopAll = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort("127.0.0.1", apiPort, 20_000);
    await waitFor(
      "PowerDNS API",
      async () => {
        if (proc.exited()) throw new Error("pdns_server exited");
        const res = await fetch(`${apiUrl}/api/v1/servers/localhost`, { headers: { "x-api-key": apiKey } }).catch(
          () => undefined,
        );
        return res?.ok;
      },
      20_000,
    );
    const ttl = opts.ttl ?? 30;
    const rrsets = [
      {
        name: zone,
        type: "SOA",
        ttl,
        records: [{ content: `ns1.${zone} hostmaster.${zone} 1 3600 600 86400 ${ttl}`, disabled: false }],
      },
      { name: zone, type: "NS", ttl, records: [{ content: `ns1.${zone}`, disabled: false }] },
      ...Object.entries(opts.records ?? {}).map(([name, addrs]) => ({
        name: `${name}.${zone}`,
        type: "A",
        ttl,
        records: addrs.map((content) => ({ content, disabled: false })),
      })),
    ];
    const res = await fetch(`${apiUrl}/api/v1/servers/localhost/zones`, {
      method: "POST",
      headers: { "x-api-key": apiKey, "content-type": "application/json" },
      body: JSON.stringify({ name: zone, kind: "Native", nameservers: [], rrsets }),
    });
    if (res.status !== 201) throw new Error(`creating zone ${zone}: HTTP ${res.status} ${await res.text()}`);
  } catch (err) {
    await stopAll();
    throw new Error(`${String(err)}\n--- pdns_server output ---\n${proc.output()}`);
  }
  return { dnsAddr: `127.0.0.1:${dnsPort}`, apiUrl, apiKey, zone, proc, dispose: stopAll };
}
