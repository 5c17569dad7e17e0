import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { decode } from "@nats-io/jwt";
import { afterEach, describe, expect, it } from "vitest";
import { parseEnvFile } from "./env-file.js";
import { initPaths, initTrust, natsNodePaths } from "./init.js";
import { accountOfUser, credsJwt, decodeUser, publicKeyOf } from "./nats-jwt.js";
import { certSans } from "./pki.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "probemesh-init-"));
  dirs.push(d);
  return join(d, "trust");
}

/** Every file under `dir` with its content, by relative path. */
function snapshot(dir: string): Map<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return new Map(
    files.map((e) => {
      const path = join(e.parentPath, e.name);
      return [relative(dir, path), readFileSync(path, "utf8")] as const;
    }),
  );
}

describe("initTrust", () => {
  it("creates the CA, server certificate, NATS operator setup and env file; secrets are 0600", async () => {
    const dir = tempDir();
    const report = await initTrust({ dir, natsListen: "0.0.0.0:4222", sans: ["cp.example.org", "10.0.0.7"] });
    const p = initPaths(dir);
    expect(report.kept).toEqual([]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const secret of [
      p.caKey,
      p.serverKey,
      p.controlPlaneCreds,
      p.signingKey,
      p.env,
      p.operatorSeed,
      p.accountSeed,
      p.systemAccountSeed,
      p.systemCreds,
      p.natsConf,
    ])
      expect(statSync(secret).mode & 0o777, secret).toBe(0o600);

    expect(certSans(readFileSync(p.serverCert, "utf8")).sort()).toEqual(
      ["10.0.0.7", "127.0.0.1", "cp.example.org", "localhost"].sort(),
    );

    const env = parseEnvFile(readFileSync(p.env, "utf8"));
    expect(env.get("PROBEMESH_NATS_URL")).toBe("tls://127.0.0.1:4222");
    expect(env.get("PROBEMESH_NATS_CREDS")).toBe(p.controlPlaneCreds);
    expect(env.get("PROBEMESH_CA_FILE")).toBe(p.caCert);
    expect(env.get("PROBEMESH_TLS_CERT")).toBe(p.serverCert);
    expect(env.get("PROBEMESH_TLS_KEY")).toBe(p.serverKey);
    expect(env.get("PROBEMESH_NATS_SIGNING_KEY_FILE")).toBe(p.signingKey);
    expect(env.get("PROBEMESH_SECRET_KEY")).toMatch(/^k1:[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(env.get("PROBEMESH_SECRET_KEY")?.slice(3) ?? "", "base64")).toHaveLength(32);
    expect(env.get("PROBEMESH_API_TOKEN")).toMatch(/^pmt_[A-Za-z0-9_-]{43}$/);

    // The chain: operator names the system account; the account has JetStream and the signing key.
    const operator = publicKeyOf(readFileSync(p.operatorSeed, "utf8"));
    const account = publicKeyOf(readFileSync(p.accountSeed, "utf8"));
    const op = decode<{ system_account: string }>(readFileSync(p.operatorJwt, "utf8").trim());
    expect(op.sub).toBe(operator);
    expect(op.nats.system_account).toBe(publicKeyOf(readFileSync(p.systemAccountSeed, "utf8")));
    const acc = decode<{ signing_keys: string[]; limits: Record<string, unknown> }>(
      readFileSync(p.accountJwt, "utf8").trim(),
    );
    expect(acc.iss).toBe(operator);
    expect(acc.nats.signing_keys).toEqual([publicKeyOf(readFileSync(p.signingKey, "utf8"))]);
    expect(acc.nats.limits).toMatchObject({ conn: -1, subs: -1, disk_storage: -1, mem_storage: -1 });
    const cpJwt = credsJwt(readFileSync(p.controlPlaneCreds, "utf8")) ?? "";
    expect(accountOfUser(cpJwt)).toBe(account);
    expect(decodeUser(cpJwt).exp).toBeUndefined();

    const conf = readFileSync(p.natsConf, "utf8");
    expect(conf).toContain('listen: "0.0.0.0:4222"');
    expect(conf).toContain(`cert_file: "${p.serverCert}"`);
    expect(conf).toContain(`store_dir: "${join(dir, "nats")}"`);
    expect(conf).toContain(`operator: "${p.operatorJwt}"`);
    expect(conf).toContain("resolver: MEMORY");
    expect(conf).toContain(`  ${account}: "${readFileSync(p.accountJwt, "utf8").trim()}"`);
  });

  it("is idempotent: a second run changes nothing and adds only what is missing", async () => {
    const dir = tempDir();
    await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    const before = snapshot(dir);
    const again = await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    expect(again.created).toEqual([]);
    expect(snapshot(dir)).toEqual(before);

    // A deleted server certificate is reissued by the same CA; a missing env line is added back.
    const p = initPaths(dir);
    unlinkSync(p.serverCert);
    unlinkSync(p.serverKey);
    const envText = readFileSync(p.env, "utf8");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(p.env, envText.replace(/^PROBEMESH_API_TOKEN=.*\n/m, "PROBEMESH_LOG_LEVEL=debug\n"));
    const third = await initTrust({ dir, natsListen: "127.0.0.1:4222", sans: ["new.example"] });
    expect(third.created).toEqual([p.serverCert, p.serverKey, `${p.env} (added PROBEMESH_API_TOKEN)`]);
    const after = snapshot(dir);
    for (const [file, content] of before)
      if (![p.serverCert, p.serverKey, p.env].map((f) => relative(dir, f)).includes(file))
        expect(after.get(file), file).toBe(content);
    const env = parseEnvFile(after.get("control-plane.env") ?? "");
    expect(env.get("PROBEMESH_LOG_LEVEL")).toBe("debug");
    expect(env.get("PROBEMESH_SECRET_KEY")).toBe(
      parseEnvFile(before.get("control-plane.env") ?? "").get("PROBEMESH_SECRET_KEY"),
    );
    expect(certSans(after.get("server.pem") ?? "")).toContain("new.example");
  });

  it("warns when a kept certificate lacks a requested name", async () => {
    const dir = tempDir();
    await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    const report = await initTrust({ dir, natsListen: "127.0.0.1:4222", sans: ["other.example"] });
    expect(report.warnings.join("\n")).toMatch(/does not cover other\.example/);
  });

  it("refuses mixed identities (a seed recreated under kept JWTs)", async () => {
    const dir = tempDir();
    await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    unlinkSync(initPaths(dir).signingKey);
    await expect(initTrust({ dir, natsListen: "127.0.0.1:4222" })).rejects.toThrow(/do not fit together/);
  });

  it("rotates the signing key when it, the account JWT and the server configuration are deleted", async () => {
    const dir = tempDir();
    await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    const p = initPaths(dir);
    const oldKey = readFileSync(p.signingKey, "utf8");
    const oldCreds = readFileSync(p.controlPlaneCreds, "utf8");
    for (const f of [p.signingKey, p.accountJwt]) unlinkSync(f);
    const stale = await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    expect(stale.warnings.join("\n")).toMatch(/preloads other account JWTs/);
    unlinkSync(p.natsConf);
    const report = await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    expect(report.warnings).toEqual([]);
    expect(readFileSync(p.signingKey, "utf8")).not.toBe(oldKey);
    // The account and the control plane's user stay the same.
    expect(readFileSync(p.controlPlaneCreds, "utf8")).toBe(oldCreds);
    expect(readFileSync(p.natsConf, "utf8")).toContain(readFileSync(p.accountJwt, "utf8").trim());
  });

  it("rejects a bad listen address", async () => {
    await expect(initTrust({ dir: tempDir(), natsListen: "nowhere" })).rejects.toThrow(/--nats-listen/);
  });

  it("writes a local NATS cluster with --nats-cluster: one configuration per node, mutual TLS routes, every URL in the env file", async () => {
    const dir = tempDir();
    const report = await initTrust({ dir, natsListen: "127.0.0.1:5222", natsNodes: 3 });
    const p = initPaths(dir);
    expect(report.natsNodeConfs).toEqual([1, 2, 3].map((i) => natsNodePaths(dir, i).conf));
    expect(report.created).not.toContain(p.natsConf);
    const env = parseEnvFile(readFileSync(p.env, "utf8"));
    expect(env.get("PROBEMESH_NATS_URL")).toBe("tls://127.0.0.1:5222,tls://127.0.0.1:5223,tls://127.0.0.1:5224");
    const accountJwt = readFileSync(p.accountJwt, "utf8").trim();
    for (const i of [1, 2, 3]) {
      const node = natsNodePaths(dir, i);
      expect(statSync(node.conf).mode & 0o777).toBe(0o600);
      expect(statSync(node.storeDir).isDirectory()).toBe(true);
      const conf = readFileSync(node.conf, "utf8");
      expect(conf).toContain(`server_name: "probemesh-nats-${i}"`);
      expect(conf).toContain(`listen: "127.0.0.1:${5221 + i}"`);
      expect(conf).toContain(`listen: "127.0.0.1:${7221 + i}"`);
      expect(conf).toContain(`store_dir: "${node.storeDir}"`);
      expect(conf).toContain('name: "probemesh"');
      expect(conf).toContain(`ca_file: "${p.caCert}"`);
      expect(conf).toContain("verify: true");
      for (const k of [1, 2, 3])
        if (k === i) expect(conf).not.toContain(`nats-route://127.0.0.1:${7221 + k}`);
        else expect(conf).toContain(`nats-route://127.0.0.1:${7221 + k}`);
      expect(conf).toContain(accountJwt);
    }

    // Idempotent like the single server.
    const before = snapshot(dir);
    const again = await initTrust({ dir, natsListen: "127.0.0.1:5222", natsNodes: 3 });
    expect(again.created).toEqual([]);
    expect(again.warnings).toEqual([]);
    expect(snapshot(dir)).toEqual(before);
    expect(statSync(natsNodePaths(dir, 2).storeDir).isDirectory()).toBe(true);
  });

  it("names the route port with --nats-cluster-port and warns when the env file lists other NATS servers", async () => {
    const dir = tempDir();
    await initTrust({ dir, natsListen: "127.0.0.1:4222" });
    const report = await initTrust({ dir, natsListen: "127.0.0.1:4222", natsNodes: 2, clusterPort: 9100 });
    expect(readFileSync(natsNodePaths(dir, 1).conf, "utf8")).toContain("nats-route://127.0.0.1:9101");
    expect(readFileSync(natsNodePaths(dir, 2).conf, "utf8")).toContain('listen: "127.0.0.1:9101"');
    expect(report.warnings.join("\n")).toMatch(/PROBEMESH_NATS_URL=tls:\/\/127\.0\.0\.1:4222, not .*4223/);
    await expect(initTrust({ dir: tempDir(), natsListen: "127.0.0.1:4222", natsNodes: 6 })).rejects.toThrow(
      /--nats-cluster/,
    );
    await expect(
      initTrust({ dir: tempDir(), natsListen: "127.0.0.1:4222", natsNodes: 3, clusterPort: 4223 }),
    ).rejects.toThrow(/overlap/);
  });
});
