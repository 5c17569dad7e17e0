import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { addrProblem } from "../config.js";
import { ValidationError } from "../errors.js";
import { parseEnvFile, renderEnvFile } from "./env-file.js";
import { accountJwt, credsJwt, decodeUser, newSeed, operatorJwt, publicKeyOf, userCreds } from "./nats-jwt.js";
import { decode } from "@nats-io/jwt";
import { certSans, createCa, issueServerCert, uniqueSans } from "./pki.js";

/** Options of {@link initTrust}. */
export interface InitOptions {
  /** Directory holding everything; created (mode 0700) when missing. */
  dir: string;
  /** host:port NATS listens on (`--nats-listen`). */
  natsListen: string;
  /** Extra names and addresses for the server certificate (`--san`); localhost and 127.0.0.1 always. */
  sans?: readonly string[];
  /**
   * `--nats-cluster N` (2..5): a local NATS cluster of N nodes instead of one server. Node i (1-based)
   * listens for clients on the port of `natsListen` + i - 1 and for routes on `clusterPort` + i - 1,
   * stores JetStream under `nats/node-<i>/`; its configuration is `nats/node-<i>.conf`. @default 1 (one server)
   */
  natsNodes?: number;
  /** `--nats-cluster-port PORT`: route port of node 1. @default the client port + 2000 (4222 → 6222) */
  clusterPort?: number;
  /** @default new Date() */
  now?: Date;
}

/** Largest `--nats-cluster`. */
export const MAX_NATS_NODES = 5;
/** The NATS cluster's name (`cluster.name` of every node). */
export const NATS_CLUSTER_NAME = "probemesh";

/** What {@link initTrust} did, file by file. Never holds a secret. */
export interface InitReport {
  /** Files written by this run (absolute paths). */
  created: string[];
  /** Files that existed and were left as they were. */
  kept: string[];
  /** Things the operator should know (e.g. a kept certificate lacks a requested name). */
  warnings: string[];
  /** Where the important files are. */
  paths: InitPaths;
  /** With `natsNodes` > 1: each node's configuration file (otherwise `paths.natsConf` is the one). */
  natsNodeConfs: string[];
}

/** The layout `init` creates under its directory. */
export interface InitPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  natsConf: string;
  natsStore: string;
  controlPlaneCreds: string;
  systemCreds: string;
  signingKey: string;
  env: string;
  keysDir: string;
  operatorSeed: string;
  systemAccountSeed: string;
  accountSeed: string;
  operatorJwt: string;
  systemAccountJwt: string;
  accountJwt: string;
}

/** Name of the NATS account probemesh's streams, KV buckets, control plane and agents live in. */
export const NATS_ACCOUNT_NAME = "probemesh";

/** The file layout under `dir` (absolute). */
export function initPaths(dir: string): InitPaths {
  const d = resolve(dir);
  const nats = join(d, "nats");
  const keys = join(nats, "keys");
  return {
    dir: d,
    caCert: join(d, "ca.pem"),
    caKey: join(d, "ca-key.pem"),
    serverCert: join(d, "server.pem"),
    serverKey: join(d, "server-key.pem"),
    natsConf: join(nats, "nats-server.conf"),
    natsStore: join(nats, "jetstream"),
    controlPlaneCreds: join(d, "control-plane.creds"),
    systemCreds: join(nats, "system.creds"),
    signingKey: join(d, "nats-signing-key.nk"),
    env: join(d, "control-plane.env"),
    keysDir: keys,
    operatorSeed: join(keys, "operator.nk"),
    systemAccountSeed: join(keys, "system-account.nk"),
    accountSeed: join(keys, `${NATS_ACCOUNT_NAME}-account.nk`),
    operatorJwt: join(nats, "operator.jwt"),
    systemAccountJwt: join(nats, "system-account.jwt"),
    accountJwt: join(nats, `${NATS_ACCOUNT_NAME}-account.jwt`),
  };
}

/** Configuration file and JetStream store dir of cluster node `i` (1-based) under `dir`. */
export function natsNodePaths(dir: string, i: number): { conf: string; storeDir: string } {
  const nats = join(resolve(dir), "nats");
  return { conf: join(nats, `node-${i}.conf`), storeDir: join(nats, `node-${i}`) };
}

/** `<keyId>:<base64 of 32 random bytes>`, the format of PROBEMESH_SECRET_KEY. */
export function newSecretKey(keyId = "k1"): string {
  return `${keyId}:${randomBytes(32).toString("base64")}`;
}

/** A new bootstrap admin token for PROBEMESH_API_TOKEN. */
export function newApiToken(): string {
  return `pmt_${randomBytes(32).toString("base64url")}`;
}

/** Splits `host:port` (IPv6 as `[addr]:port`). */
function splitAddr(addr: string): { host: string; port: number } {
  const sep = addr.lastIndexOf(":");
  return { host: addr.slice(0, sep).replace(/^\[(.*)\]$/, "$1"), port: Number(addr.slice(sep + 1)) };
}

/** The address clients use for a listen host: a wildcard listens on loopback too. */
function clientHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Creates (or completes) the trust material of one installation under `dir`: a CA, a server
 * certificate for NATS, gRPC and the HTTP API, the NATS operator, system account, `probemesh`
 * account (JetStream) with a signing key, the control plane's NATS user, the NATS server
 * configuration and the control plane's env file. Idempotent: an existing file is never rewritten,
 * so keys, tokens and secrets survive a re-run; missing files are added.
 */
export async function initTrust(opts: InitOptions): Promise<InitReport> {
  const problem = addrProblem(opts.natsListen);
  if (problem) throw new ValidationError(`--nats-listen: ${problem}`, { field: "--nats-listen" });
  const listen = splitAddr(opts.natsListen);
  if (listen.port === 0) throw new ValidationError("--nats-listen: give a fixed port", { field: "--nats-listen" });
  for (const san of opts.sans ?? [])
    if (!/^[A-Za-z0-9.:*_-]{1,253}$/.test(san))
      throw new ValidationError(`--san: ${JSON.stringify(san)} is not a host name or IP address`, { field: "--san" });

  const nodes = opts.natsNodes ?? 1;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NATS_NODES)
    throw new ValidationError(`--nats-cluster: give a number of nodes from 1 (one server) to ${MAX_NATS_NODES}`, {
      field: "--nats-cluster",
    });
  const clusterPort = opts.clusterPort ?? listen.port + 2000;
  if (
    nodes > 1 &&
    (!Number.isInteger(clusterPort) ||
      clusterPort < 1 ||
      clusterPort + nodes - 1 > 65535 ||
      listen.port + nodes - 1 > 65535)
  )
    throw new ValidationError("--nats-cluster-port: the client and route ports of every node must be 1..65535", {
      field: "--nats-cluster-port",
    });
  if (nodes > 1 && clusterPort < listen.port + nodes && listen.port < clusterPort + nodes)
    throw new ValidationError(
      `--nats-cluster-port: route ports ${clusterPort}..${clusterPort + nodes - 1} overlap client ports ${listen.port}..${listen.port + nodes - 1}`,
      { field: "--nats-cluster-port" },
    );

  const paths = initPaths(opts.dir);
  if (/["\\\r\n]/.test(paths.dir))
    throw new ValidationError("--dir: the path must not contain quotes, backslashes or line breaks", {
      field: "--dir",
    });
  const now = opts.now ?? new Date();
  const report: InitReport = { created: [], kept: [], warnings: [], paths, natsNodeConfs: [] };

  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  mkdirSync(paths.keysDir, { recursive: true, mode: 0o700 });

  /** Returns the file's content, writing `make()`'s result first when the file is missing. */
  const ensure = async (path: string, make: () => Promise<string> | string, mode = 0o600): Promise<string> => {
    if (existsSync(path)) {
      report.kept.push(path);
      return readFileSync(path, "utf8");
    }
    const content = await make();
    // "wx": never overwrite, even if another init raced us to it.
    writeFileSync(path, content, { mode, flag: "wx" });
    report.created.push(path);
    return content;
  };

  // TLS: one CA per installation; one server certificate for every service.
  const wantSans = uniqueSans([
    ...(opts.sans ?? []),
    ...(listen.host === "0.0.0.0" || listen.host === "::" ? [] : [listen.host]),
  ]);
  let caPair: { certPem: string; keyPem: string } | undefined;
  const ca = async () => (caPair ??= await createCa({ commonName: "probemesh local CA", now }));
  if (existsSync(paths.caCert) !== existsSync(paths.caKey))
    throw new ValidationError(`${paths.caCert} and ${paths.caKey} must both exist or both be missing`);
  const caCertPem = await ensure(paths.caCert, async () => (await ca()).certPem, 0o644);
  const caKeyPem = await ensure(paths.caKey, async () => (await ca()).keyPem);
  let server: { certPem: string; keyPem: string } | undefined;
  const serverPair = async () =>
    (server ??= await issueServerCert({ ca: { certPem: caCertPem, keyPem: caKeyPem }, sans: wantSans, now }));
  if (existsSync(paths.serverCert) !== existsSync(paths.serverKey))
    throw new ValidationError(`${paths.serverCert} and ${paths.serverKey} must both exist or both be missing`);
  const serverCertPem = await ensure(paths.serverCert, async () => (await serverPair()).certPem, 0o644);
  await ensure(paths.serverKey, async () => (await serverPair()).keyPem);
  const have = new Set(certSans(serverCertPem));
  const missing = wantSans.filter((s) => !have.has(s));
  if (missing.length > 0)
    report.warnings.push(
      `${paths.serverCert} does not cover ${missing.join(", ")}: delete it and ${paths.serverKey}, then run init again to reissue it`,
    );

  // NATS operator mode: seeds first (the identities), then the JWTs they sign.
  const operatorSeed = (await ensure(paths.operatorSeed, () => `${newSeed("operator")}\n`)).trim();
  const systemSeed = (await ensure(paths.systemAccountSeed, () => `${newSeed("account")}\n`)).trim();
  const accountSeed = (await ensure(paths.accountSeed, () => `${newSeed("account")}\n`)).trim();
  const signingSeed = (await ensure(paths.signingKey, () => `${newSeed("account")}\n`)).trim();
  const operator = publicKeyOf(operatorSeed);
  const systemAccount = publicKeyOf(systemSeed);
  const account = publicKeyOf(accountSeed);
  const signingKey = publicKeyOf(signingSeed);

  const opJwt = (
    await ensure(
      paths.operatorJwt,
      async () => `${await operatorJwt({ name: "probemesh", operatorSeed, systemAccount })}\n`,
      0o644,
    )
  ).trim();
  const sysJwt = (
    await ensure(
      paths.systemAccountJwt,
      async () => `${await accountJwt({ name: "SYS", accountSeed: systemSeed, operatorSeed, jetstream: false })}\n`,
      0o644,
    )
  ).trim();
  const accJwt = (
    await ensure(
      paths.accountJwt,
      async () =>
        `${await accountJwt({ name: NATS_ACCOUNT_NAME, accountSeed, operatorSeed, jetstream: true, signingKeys: [signingKey] })}\n`,
      0o644,
    )
  ).trim();
  checkChain({ opJwt, sysJwt, accJwt, operator, systemAccount, account, signingKey });

  const cpCreds = await ensure(paths.controlPlaneCreds, () =>
    userCreds({ name: "control-plane", account, signerSeed: accountSeed }),
  );
  const cpJwt = credsJwt(cpCreds);
  if (!cpJwt || decodeUser(cpJwt).iss !== account)
    throw new ValidationError(
      `${paths.controlPlaneCreds} is not a user of account ${account}: delete it and run init again`,
    );
  await ensure(paths.systemCreds, () => userCreds({ name: "system", account: systemAccount, signerSeed: systemSeed }));

  const common = {
    certFile: paths.serverCert,
    keyFile: paths.serverKey,
    operatorJwtFile: paths.operatorJwt,
    systemAccount,
    accounts: [
      [systemAccount, sysJwt],
      [account, accJwt],
    ] as const,
  };
  const checkPreload = (file: string, conf: string) => {
    if (!conf.includes(accJwt) || !conf.includes(sysJwt))
      report.warnings.push(
        `${file} preloads other account JWTs than ${paths.accountJwt}: delete it and run init again`,
      );
  };
  // Client URLs of the NATS servers, in node order.
  const natsUrls: string[] = [];
  if (nodes === 1) {
    // nats-server stores under <store_dir>/jetstream.
    const conf = await ensure(
      paths.natsConf,
      () => natsServerConf({ ...common, listen: opts.natsListen, storeDir: dirname(paths.natsStore) }),
      0o600,
    );
    checkPreload(paths.natsConf, conf);
    natsUrls.push(`tls://${clientHost(listen.host)}:${listen.port}`);
  } else {
    const hostOf = (port: number) =>
      listen.host.includes(":") ? `[${listen.host}]:${port}` : `${listen.host}:${port}`;
    const routeUrl = (i: number) => `nats-route://${clientHost(listen.host)}:${clusterPort + i - 1}`;
    for (let i = 1; i <= nodes; i++) {
      const node = natsNodePaths(paths.dir, i);
      mkdirSync(node.storeDir, { recursive: true, mode: 0o700 });
      const conf = await ensure(
        node.conf,
        () =>
          natsServerConf({
            ...common,
            listen: hostOf(listen.port + i - 1),
            storeDir: node.storeDir,
            serverName: `probemesh-nats-${i}`,
            cluster: {
              name: NATS_CLUSTER_NAME,
              listen: hostOf(clusterPort + i - 1),
              routes: Array.from({ length: nodes }, (_, k) => k + 1)
                .filter((k) => k !== i)
                .map(routeUrl),
              caFile: paths.caCert,
            },
          }),
        0o600,
      );
      checkPreload(node.conf, conf);
      report.natsNodeConfs.push(node.conf);
      natsUrls.push(`tls://${clientHost(listen.host)}:${listen.port + i - 1}`);
    }
  }

  // The env file: existing values are kept, missing ones added.
  const wanted: [string, () => string][] = [
    ["PROBEMESH_NATS_URL", () => natsUrls.join(",")],
    ["PROBEMESH_NATS_CREDS", () => paths.controlPlaneCreds],
    ["PROBEMESH_CA_FILE", () => paths.caCert],
    ["PROBEMESH_TLS_CERT", () => paths.serverCert],
    ["PROBEMESH_TLS_KEY", () => paths.serverKey],
    ["PROBEMESH_NATS_SIGNING_KEY_FILE", () => paths.signingKey],
    ["PROBEMESH_SECRET_KEY", () => newSecretKey()],
    ["PROBEMESH_API_TOKEN", () => newApiToken()],
  ];
  if (existsSync(paths.env)) {
    const existing = parseEnvFile(readFileSync(paths.env, "utf8"), paths.env);
    const natsUrl = existing.get("PROBEMESH_NATS_URL");
    if (natsUrl !== undefined && natsUrl !== natsUrls.join(","))
      report.warnings.push(
        `${paths.env} has PROBEMESH_NATS_URL=${natsUrl}, not ${natsUrls.join(",")}: edit that line (or delete it and run init again)`,
      );
    const added = wanted.filter(([key]) => !existing.has(key)).map(([key, make]) => [key, make()] as const);
    if (added.length > 0) {
      const text = readFileSync(paths.env, "utf8");
      writeFileSync(paths.env, `${text.endsWith("\n") || text === "" ? text : `${text}\n`}${renderEnvFile(added)}`, {
        mode: 0o600,
      });
      report.created.push(`${paths.env} (added ${added.map(([k]) => k).join(", ")})`);
    } else report.kept.push(paths.env);
  } else {
    await ensure(paths.env, () =>
      renderEnvFile(
        wanted.map(([key, make]) => [key, make()] as const),
        "Written by `probemesh-control-plane init`. Secrets: keep this file mode 0600.\n" +
          "Read with PROBEMESH_ENV_FILE=<this file> (or --env-file); variables already set in the environment win.",
      ),
    );
  }
  return report;
}

/** Fails when kept files belong to different identities (e.g. one seed was deleted and recreated). */
function checkChain(c: {
  opJwt: string;
  sysJwt: string;
  accJwt: string;
  operator: string;
  systemAccount: string;
  account: string;
  signingKey: string;
}): void {
  const op = decode<{ system_account?: string }>(c.opJwt);
  const sys = decode(c.sysJwt);
  const acc = decode<{ signing_keys?: (string | { key: string })[] }>(c.accJwt);
  const problems: string[] = [];
  if (op.sub !== c.operator) problems.push("operator.jwt is not signed by keys/operator.nk");
  if (op.nats.system_account !== c.systemAccount) problems.push("operator.jwt names another system account");
  if (sys.sub !== c.systemAccount || sys.iss !== c.operator)
    problems.push("system-account.jwt does not match its seed or operator");
  if (acc.sub !== c.account || acc.iss !== c.operator)
    problems.push("the account JWT does not match its seed or operator");
  const keys = (acc.nats.signing_keys ?? []).map((k) => (typeof k === "string" ? k : k.key));
  if (!keys.includes(c.signingKey)) problems.push("the account JWT does not list nats-signing-key.nk as a signing key");
  if (problems.length > 0)
    throw new ValidationError(
      `the NATS identities under this directory do not fit together (${problems.join("; ")}); restore the missing files or start from an empty directory`,
    );
}

/** Renders the nats-server configuration: TLS required, JetStream, operator mode with a preloaded memory resolver. */
export function natsServerConf(c: {
  listen: string;
  certFile: string;
  keyFile: string;
  storeDir: string;
  operatorJwtFile: string;
  systemAccount: string;
  accounts: readonly (readonly [string, string])[];
  /** A cluster node's unique name (JetStream needs one per node). */
  serverName?: string;
  /** Routes to the other nodes, mutual TLS with certificates of the CA. */
  cluster?: { name: string; listen: string; routes: readonly string[]; caFile: string };
}): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    "# Written by `probemesh-control-plane init`. Run: nats-server -c <this file>",
    "# Every client must use TLS and a user JWT of an account below (operator mode).",
    ...(c.serverName ? [`server_name: ${q(c.serverName)}`] : []),
    `listen: ${q(c.listen)}`,
    "",
    "tls {",
    `  cert_file: ${q(c.certFile)}`,
    `  key_file: ${q(c.keyFile)}`,
    "  timeout: 2",
    "}",
    "",
    "jetstream {",
    `  store_dir: ${q(c.storeDir)}`,
    "}",
    "",
    ...(c.cluster
      ? [
          "# Routes between the nodes: mutual TLS, each side presents a certificate of the installation's CA.",
          "cluster {",
          `  name: ${q(c.cluster.name)}`,
          `  listen: ${q(c.cluster.listen)}`,
          "  tls {",
          `    cert_file: ${q(c.certFile)}`,
          `    key_file: ${q(c.keyFile)}`,
          `    ca_file: ${q(c.cluster.caFile)}`,
          "    verify: true",
          "    timeout: 2",
          "  }",
          "  routes: [",
          ...c.cluster.routes.map((r) => `    ${q(r)}`),
          "  ]",
          "}",
          "",
        ]
      : []),
    `operator: ${q(c.operatorJwtFile)}`,
    `system_account: ${c.systemAccount}`,
    "",
    "# The accounts' JWTs, loaded at start; to change one, edit it here and reload the server.",
    "resolver: MEMORY",
    "resolver_preload: {",
    ...c.accounts.map(([pub, jwt]) => `  ${pub}: ${q(jwt)}`),
    "}",
    "",
  ].join("\n");
}
