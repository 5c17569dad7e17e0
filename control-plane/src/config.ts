import { existsSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { isSubjectToken, MAX_PARTITIONS } from "@probemesh/proto";
import { Problems } from "./checks/problems.js";
import { isHostname } from "./checks/rules.js";
import { parseKeyRing, type KeyRing } from "./trust/secret-box.js";

/** Log levels pino accepts. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The control plane's configuration, resolved once from the environment in main.ts. */
export interface Config {
  /** PROBEMESH_NATS_URL: one or more comma-separated NATS server URLs. @default "nats://127.0.0.1:4222" */
  natsUrl: string[];
  /** PROBEMESH_CLICKHOUSE_URL: HTTP URL of ClickHouse. @default "http://127.0.0.1:8123" */
  clickhouseUrl: string;
  /** PROBEMESH_CLICKHOUSE_DATABASE. @default "probemesh" */
  clickhouseDatabase: string;
  /** PROBEMESH_HTTP_ADDR: host:port of the HTTP API. @default "127.0.0.1:8080" */
  httpAddr: string;
  /** PROBEMESH_GRPC_ADDR: host:port of the agent gRPC service. @default "127.0.0.1:7070" */
  grpcAddr: string;
  /** PROBEMESH_API_TOKEN: the bootstrap admin token of the API (required; never logged). */
  apiToken: string;
  /** PROBEMESH_PUBLIC_STATUS=true: serve GET /v1/public/status without a token. @default false */
  publicStatus: boolean;
  /** Variables that are set but no longer read (main.ts warns about each once). */
  ignored: string[];
  /** PROBEMESH_LOG_LEVEL. @default "info" */
  logLevel: (typeof LOG_LEVELS)[number];
  /** PROBEMESH_RETENTION_DAYS: days of results kept in ClickHouse. @default 30 */
  retentionDays: number;
  /**
   * PROBEMESH_SECRET_KEY: `<keyId>:<base64 of 32 bytes>[,...]`, the first seals secrets at rest, all
   * open them (rotation). Required unless PROBEMESH_INSECURE=true; undefined = secrets stored in clear.
   */
  secretKeys: KeyRing | undefined;
  /** PROBEMESH_NATS_CREDS: the control plane's NATS `.creds` file. @default none (no NATS credentials) */
  natsCredsFile?: string;
  /** PROBEMESH_CA_FILE: CA (PEM) the NATS server certificate is verified against. @default none (system CAs) */
  caFile?: string;
  /** PROBEMESH_TLS_CERT and PROBEMESH_TLS_KEY: gRPC and the HTTP API serve TLS with them. @default none (plaintext) */
  tls?: { certFile: string; keyFile: string };
  /** PROBEMESH_INSECURE=true: plaintext gRPC and HTTP may listen on a non-loopback address. @default false */
  insecure: boolean;
  /** PROBEMESH_NATS_SIGNING_KEY_FILE: account signing-key seed agents' NATS credentials are minted with. @default none (agents get none) */
  natsSigningKeyFile?: string;
  /** PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS: lifetime of agents' NATS credentials. @default 900 */
  agentNatsCredsTtlMs: number;
  /**
   * PROBEMESH_JETSTREAM_REPLICAS: copies (num_replicas) of every stream and KV bucket the control plane
   * creates; 3 on a 3-node NATS cluster. An existing stream or bucket is brought in line at start. @default 1
   */
  jetstreamReplicas: number;
  /**
   * PROBEMESH_PARTITIONS: decision partitions of the mesh (1..MAX_PARTITIONS); sent to agents, which publish
   * each result on the partition of its check. Every replica of one mesh must use the same value. @default 16
   */
  partitions: number;
  /** PROBEMESH_REPLICA_ID: this replica's id in the partition leases. @default `<hostname>-<pid>` (made a valid token) */
  replicaId: string;
  /** PROBEMESH_EVENTS_CLIENT_BUFFER: events a GET /v1/events client may have waiting before it is cut off. @default 1000 */
  eventsClientBuffer: number;
}

/** Default of every optional variable, by env name. */
export const CONFIG_DEFAULTS = {
  PROBEMESH_NATS_URL: "nats://127.0.0.1:4222",
  PROBEMESH_CLICKHOUSE_URL: "http://127.0.0.1:8123",
  PROBEMESH_CLICKHOUSE_DATABASE: "probemesh",
  PROBEMESH_HTTP_ADDR: "127.0.0.1:8080",
  PROBEMESH_GRPC_ADDR: "127.0.0.1:7070",
  PROBEMESH_LOG_LEVEL: "info",
  PROBEMESH_RETENTION_DAYS: "30",
  PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS: "900",
  PROBEMESH_JETSTREAM_REPLICAS: "1",
  PROBEMESH_PARTITIONS: "16",
  PROBEMESH_EVENTS_CLIENT_BUFFER: "1000",
} as const;

/**
 * Reads the configuration from `env`, listing every problem at once in one ValidationError
 * (`details.problems`, field = env name). Token values never appear in messages.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems = new Problems();
  const get = (name: keyof typeof CONFIG_DEFAULTS): string => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? CONFIG_DEFAULTS[name] : v;
  };

  const natsUrl = get("PROBEMESH_NATS_URL")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const u of natsUrl) {
    // Plain host:port is what the agent (and nats.js) accept too, so one value works for both programs.
    const ok = u.includes("://") ? isUrl(u, ["nats:", "tls:", "ws:", "wss:"]) : addrProblem(u) === undefined;
    if (!ok)
      problems.add("PROBEMESH_NATS_URL", `${JSON.stringify(redactUrl(u))} is not a nats://host:port URL or host:port`);
  }
  if (natsUrl.length === 0) problems.add("PROBEMESH_NATS_URL", "must name at least one server");

  const clickhouseUrl = get("PROBEMESH_CLICKHOUSE_URL");
  if (!isUrl(clickhouseUrl, ["http:", "https:"])) {
    problems.add("PROBEMESH_CLICKHOUSE_URL", `${JSON.stringify(redactUrl(clickhouseUrl))} is not an http(s):// URL`);
  }
  const clickhouseDatabase = get("PROBEMESH_CLICKHOUSE_DATABASE");
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(clickhouseDatabase)) {
    problems.add("PROBEMESH_CLICKHOUSE_DATABASE", "must be letters, digits and underscores, not starting with a digit");
  }

  const httpAddr = get("PROBEMESH_HTTP_ADDR");
  const httpProblem = addrProblem(httpAddr);
  if (httpProblem) problems.add("PROBEMESH_HTTP_ADDR", httpProblem);
  const grpcAddr = get("PROBEMESH_GRPC_ADDR");
  const grpcProblem = addrProblem(grpcAddr);
  if (grpcProblem) problems.add("PROBEMESH_GRPC_ADDR", grpcProblem);

  const token = (name: string): string => {
    const v = env[name] ?? "";
    if (v.trim() === "") problems.add(name, "is required");
    else if (/\s/.test(v)) problems.add(name, "must not contain whitespace");
    return v;
  };
  const apiToken = token("PROBEMESH_API_TOKEN");
  // Agents are enrolled, each with its own token (POST /v1/agents): a shared one is not read.
  const ignored = (env["PROBEMESH_AGENT_TOKEN"] ?? "") !== "" ? ["PROBEMESH_AGENT_TOKEN"] : [];

  const rawPublic = (env["PROBEMESH_PUBLIC_STATUS"] ?? "").trim().toLowerCase();
  if (!["", "true", "false"].includes(rawPublic)) problems.add("PROBEMESH_PUBLIC_STATUS", 'must be "true" or "false"');
  const publicStatus = rawPublic === "true";

  const logLevel = get("PROBEMESH_LOG_LEVEL").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.add("PROBEMESH_LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}`);
  }

  const rawDays = get("PROBEMESH_RETENTION_DAYS");
  const retentionDays = Number(rawDays);
  if (!/^\d{1,5}$/.test(rawDays) || retentionDays < 1 || retentionDays > 36_500) {
    problems.add("PROBEMESH_RETENTION_DAYS", "must be a whole number of days between 1 and 36500");
  }

  let secretKeys: KeyRing | undefined;
  const rawKey = env.PROBEMESH_SECRET_KEY?.trim() ?? "";
  if (rawKey !== "") {
    const parsed = parseKeyRing(rawKey);
    for (const p of parsed.problems) problems.add("PROBEMESH_SECRET_KEY", p);
    secretKeys = parsed.ring;
  } else if (env.PROBEMESH_INSECURE?.trim() !== "true") {
    problems.add(
      "PROBEMESH_SECRET_KEY",
      'is required (e.g. "k1:$(openssl rand -base64 32)"); with PROBEMESH_INSECURE=true check and hook credentials are stored in clear instead',
    );
  }
  const file = (name: string): string | undefined => {
    const v = env[name]?.trim();
    if (v === undefined || v === "") return undefined;
    if (!existsSync(v)) problems.add(name, `file ${JSON.stringify(v)} does not exist`);
    return v;
  };
  const natsCredsFile = file("PROBEMESH_NATS_CREDS");
  const caFile = file("PROBEMESH_CA_FILE");
  const certFile = file("PROBEMESH_TLS_CERT");
  const keyFile = file("PROBEMESH_TLS_KEY");
  if ((certFile === undefined) !== (keyFile === undefined))
    problems.add(
      certFile ? "PROBEMESH_TLS_KEY" : "PROBEMESH_TLS_CERT",
      "PROBEMESH_TLS_CERT and PROBEMESH_TLS_KEY go together",
    );
  const natsSigningKeyFile = file("PROBEMESH_NATS_SIGNING_KEY_FILE");
  if (natsSigningKeyFile && !natsCredsFile)
    problems.add(
      "PROBEMESH_NATS_SIGNING_KEY_FILE",
      "needs PROBEMESH_NATS_CREDS: agents' credentials are minted for the account of the control plane's own NATS user",
    );
  const rawInsecure = (env.PROBEMESH_INSECURE ?? "").trim().toLowerCase();
  if (!["", "true", "false"].includes(rawInsecure)) problems.add("PROBEMESH_INSECURE", "must be true or false");
  const insecure = rawInsecure === "true";
  // Tokens and check secrets must not cross a network in clear unless the operator says so.
  if (!certFile && !insecure)
    for (const [name, addr] of [
      ["PROBEMESH_HTTP_ADDR", httpAddr],
      ["PROBEMESH_GRPC_ADDR", grpcAddr],
    ] as const)
      if (!httpProblem && !grpcProblem && !isLoopbackAddr(addr))
        problems.add(
          name,
          `${addr} is not a loopback address and there is no TLS: set PROBEMESH_TLS_CERT and PROBEMESH_TLS_KEY (see \`probemesh-control-plane init\`), or PROBEMESH_INSECURE=true to serve plaintext anyway`,
        );
  const rawTtl = get("PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS");
  const ttlSeconds = Number(rawTtl);
  if (!/^\d{1,6}$/.test(rawTtl) || ttlSeconds < 60 || ttlSeconds > 86_400)
    problems.add("PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS", "must be a whole number of seconds between 60 and 86400");
  const rawPartitions = get("PROBEMESH_PARTITIONS");
  const partitions = Number(rawPartitions);
  if (!/^\d{1,4}$/.test(rawPartitions) || partitions < 1 || partitions > MAX_PARTITIONS)
    problems.add("PROBEMESH_PARTITIONS", `must be a whole number between 1 and ${MAX_PARTITIONS}`);

  const rawBuffer = get("PROBEMESH_EVENTS_CLIENT_BUFFER");
  const eventsClientBuffer = Number(rawBuffer);
  if (!/^\d{1,6}$/.test(rawBuffer) || eventsClientBuffer < 1)
    problems.add("PROBEMESH_EVENTS_CLIENT_BUFFER", "must be a whole number of events between 1 and 999999");

  const rawReplicas = get("PROBEMESH_JETSTREAM_REPLICAS");
  const jetstreamReplicas = Number(rawReplicas);
  if (!/^[1-5]$/.test(rawReplicas))
    problems.add(
      "PROBEMESH_JETSTREAM_REPLICAS",
      "must be a whole number between 1 and 5 (at most the NATS cluster's size)",
    );

  const replicaId = env.PROBEMESH_REPLICA_ID?.trim() || defaultReplicaId();
  if (!isSubjectToken(replicaId)) problems.add("PROBEMESH_REPLICA_ID", "must be 1 to 64 letters, digits, '-' or '_'");

  problems.throwIfAny("configuration");
  return {
    ...(natsCredsFile ? { natsCredsFile } : {}),
    ...(caFile ? { caFile } : {}),
    ...(certFile && keyFile ? { tls: { certFile, keyFile } } : {}),
    insecure,
    ...(natsSigningKeyFile ? { natsSigningKeyFile } : {}),
    agentNatsCredsTtlMs: ttlSeconds * 1000,
    jetstreamReplicas,
    partitions,
    replicaId,
    eventsClientBuffer,
    natsUrl,
    clickhouseUrl,
    clickhouseDatabase,
    httpAddr,
    grpcAddr,
    apiToken,
    publicStatus,
    ignored,
    logLevel: logLevel as Config["logLevel"],
    retentionDays,
    secretKeys,
  };
}

/** `<hostname>-<pid>`, with every character a lease key cannot hold replaced by `_`. */
function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, "_").slice(-64);
}

/**
 * `value` with the password (or token) of its user-info replaced by "***", for logs and messages:
 * the URL is the only place the ClickHouse and NATS credentials can be given.
 */
export function redactUrl(value: string): string {
  return value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)@/, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    // nats://token@host puts the secret where a user name would be; user:password keeps the user.
    return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}

function isUrl(value: string, protocols: string[]): boolean {
  try {
    const u = new URL(value);
    return protocols.includes(u.protocol) && u.hostname !== "";
  } catch {
    return false;
  }
}

/** True when host:port `addr` names a loopback host (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddr(addr: string): boolean {
  const host = addr
    .slice(0, addr.lastIndexOf(":"))
    .replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Why `addr` is not host:port (port 0..65535; IPv6 in brackets), or undefined. */
export function addrProblem(addr: string): string | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:[\]]+):(\d{1,5})$/.exec(addr);
  if (!m) return `${JSON.stringify(addr)} is not host:port (IPv6 as [addr]:port)`;
  const [, host = "", port = ""] = m;
  if (isIP(host) === 0 && !isHostname(host)) return `${JSON.stringify(host)} is not a host name or IP address`;
  if (Number(port) > 65535) return `port ${port} is out of range`;
  return undefined;
}
