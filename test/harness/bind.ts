import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { freePort } from "./ports.js";
import { startProcess, waitFor, type Managed } from "./process.js";

/** A private BIND 9 `named` serving one zone that accepts TSIG-signed dynamic updates. */
export interface BindServer {
  /** "127.0.0.1:<port>" for DNS (UDP and TCP). */
  readonly addr: string;
  readonly zone: string;
  readonly tsig: { name: string; algorithm: "hmac-sha256"; secret: string };
  readonly proc: Managed;
  /** Stops named (by PID) and removes its directory. */
  dispose(): Promise<void>;
}

/** Starts Debian's `named -g` with a temp config: zone `zone` with `records` (name -> A addresses). */
export async function startBind(
  opts: { zone?: string; records?: Record<string, string[]>; ttl?: number } = {},
): Promise<BindServer> {
  const zone = opts.zone ?? "example.test.";
  const dir = mkdtempSync(join(tmpdir(), "probemesh-bind-"));
  const port = await freePort();
  const tsig = {
    name: "probemesh-key",
    algorithm: "hmac-sha256" as const,
    secret: Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)).toString("base64"),
  };
  const ttl = opts.ttl ?? 30;
  const lines = [
    `$ORIGIN ${zone}`,
    `$TTL ${ttl}`,
    `@ IN SOA ns1.${zone} hostmaster.${zone} 1 3600 600 86400 ${ttl}`,
    `@ IN NS ns1.${zone}`,
    `ns1 IN A 127.0.0.1`,
  ];
  for (const [name, addrs] of Object.entries(opts.records ?? {}))
    for (const a of addrs) lines.push(`${name} IN A ${a}`);
  writeFileSync(join(dir, "zone.db"), `${lines.join("\n")}\n`);
  writeFileSync(
    join(dir, "named.conf"),
    `options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  allow-query { any; };
  notify no;
};
controls { };
key "${tsig.name}" { algorithm hmac-sha256; secret "${tsig.secret}"; };
zone "${zone.slice(0, -1)}" {
  type primary;
  file "${dir}/zone.db";
  allow-update { key "${tsig.name}"; };
};
`,
  );
  execFileSync("named-checkconf", [join(dir, "named.conf")], { stdio: "pipe" });
  const proc = startProcess("named", "named", ["-g", "-4", "-n", "1", "-c", join(dir, "named.conf")]);
  try {
    await waitFor(
      "named to load its zone",
      () => {
        if (proc.exited()) throw new Error("named exited");
        return /running/.test(proc.output());
      },
      20_000,
    );
  } catch (err) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${String(err)}\n--- named output ---\n${proc.output()}`);
  }
  return {
    addr: `127.0.0.1:${port}`,
    zone,
    tsig,
    proc,
    async dispose() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
