import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A key and certificate chain in PEM. */
export interface KeyPair {
  key: string;
  /** Leaf first, then any intermediate. */
  cert: string;
}

/** Certificates for hostile TLS targets, generated at test time with the openssl CLI. */
export interface TestCerts {
  /** Root CA the probes are told to trust (never in the system store). */
  caPem: string;
  /** Signed by the CA for localhost and 127.0.0.1, valid 30 days. */
  valid: KeyPair;
  /** Self-signed for localhost and 127.0.0.1. */
  selfSigned: KeyPair;
  /** Signed by the CA, but expired in 2020. */
  expired: KeyPair;
  /** Signed by the CA for wrong.example only. */
  wrongHost: KeyPair;
  /** Leaf valid 30 days under an intermediate that expires in 3 days (served with the chain). */
  shortChain: KeyPair;
  /** Epoch ms when the short chain's intermediate expires (approximately, to the minute). */
  shortChainNotAfterMs: number;
  dispose(): void;
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

/** Generates every test certificate in a temp dir (EC P-256 keys: fast). Needs `openssl` on PATH. */
export function generateTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-certs-"));
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caExt = "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n";
  writeFileSync(join(dir, "ca.ext"), caExt);
  mkdirSync(join(dir, "newcerts"));
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "serial"), "1000\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    [
      "[ ca ]",
      "default_ca = d",
      "[ d ]",
      `dir = ${dir}`,
      "database = $dir/index.txt",
      "new_certs_dir = $dir/newcerts",
      "serial = $dir/serial",
      "default_md = sha256",
      "policy = any",
      "copy_extensions = copy",
      "unique_subject = no",
      "email_in_dn = no",
      "[ any ]",
      "commonName = supplied",
    ].join("\n"),
  );
  openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "3650",
    "-subj",
    "/CN=probemesh test root",
    "-addext",
    "basicConstraints=critical,CA:true",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );

  const csr = (name: string, cn: string, san: string) =>
    openssl(
      dir,
      "req",
      "-new",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
      ...(san ? ["-addext", `subjectAltName=${san}`] : []),
    );
  const sign = (name: string, issuer: string, dates: string[], extfile?: string) =>
    openssl(
      dir,
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      `${issuer}.pem`,
      "-keyfile",
      `${issuer}.key`,
      "-in",
      `${name}.csr`,
      "-out",
      `${name}.pem`,
      "-notext",
      ...dates,
      ...(extfile ? ["-extfile", extfile] : []),
    );
  const local = "DNS:localhost,IP:127.0.0.1,IP:::1";

  csr("valid", "localhost", local);
  sign("valid", "ca", ["-days", "30"]);
  csr("expired", "localhost", local);
  sign("expired", "ca", ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]);
  csr("wrong", "wrong.example", "DNS:wrong.example");
  sign("wrong", "ca", ["-days", "30"]);
  csr("inter", "probemesh test intermediate", "");
  sign("inter", "ca", ["-days", "3"], "ca.ext");
  csr("short", "localhost", local);
  sign("short", "inter", ["-days", "30"]);
  openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "self.key",
    "-out",
    "self.pem",
    "-days",
    "30",
    "-subj",
    "/CN=localhost",
    "-addext",
    `subjectAltName=${local}`,
  );

  const interEnd = execFileSync("openssl", ["x509", "-in", "inter.pem", "-noout", "-enddate"], {
    cwd: dir,
    encoding: "utf8",
  })
    .trim()
    .replace(/^notAfter=/, "");
  const certs: TestCerts = {
    caPem: read("ca.pem"),
    valid: { key: read("valid.key"), cert: read("valid.pem") },
    selfSigned: { key: read("self.key"), cert: read("self.pem") },
    expired: { key: read("expired.key"), cert: read("expired.pem") },
    wrongHost: { key: read("wrong.key"), cert: read("wrong.pem") },
    shortChain: { key: read("short.key"), cert: read("short.pem") + read("inter.pem") },
    shortChainNotAfterMs: Date.parse(interEnd),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
  return certs;
}
