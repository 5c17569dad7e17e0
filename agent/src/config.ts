import { existsSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { resolve } from "node:path";
import { isSubjectToken } from "@probemesh/proto";
import { ConfigError } from "./errors.js";
import { metricsAddrProblem } from "./metrics/listen-addr.js";

/** Log levels pino understands. */
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

/** The agent's configuration, resolved once at start and passed down. */
export interface AgentConfig {
  /**
   * host:port of each control-plane replica's agent gRPC service (PROBEMESH_GRPC_ADDR, comma-separated),
   * in the order given; the agent starts at one chosen by its id and moves on along the list on failure.
   */
  grpcAddrs: string[];
  /** Bearer token for the control plane; never logged. */
  agentToken: string;
  agentId: string;
  region: string;
  provider: string;
  /** NATS server URLs (comma-separated in the env var). */
  natsServers: string[];
  /** Absolute path of the state dir (assignment cache, sequence, outbox). */
  stateDir: string;
  logLevel: LogLevel;
  maxConcurrency: number;
  outboxMaxBytes: number;
  /** Longest a result waits for others to share a JetStream publish window. */
  publishLingerMs: number;
  /** PROBEMESH_CA_FILE: CA (PEM) the control plane's gRPC certificate and NATS's are verified against; gRPC uses TLS when set. */
  caFile?: string;
  /** PROBEMESH_INSECURE=true: plaintext gRPC to a non-loopback control plane is allowed. */
  insecure: boolean;
  /** PROBEMESH_NATS_CREDS: a NATS `.creds` file used when the control plane issues none. */
  natsCredsFile?: string;
  /** PROBEMESH_METRICS_ADDR: host:port of a plain-HTTP GET /metrics (loopback or private). @default none (off) */
  metricsAddr?: string;
}

/** One environment variable the agent reads, for docs and `--help`. */
export interface EnvVarDoc {
  name: string;
  default: string;
  meaning: string;
}

/** Every environment variable the agent reads, in README table order. */
export const AGENT_ENV_VARS: readonly EnvVarDoc[] = [
  {
    name: "PROBEMESH_GRPC_ADDR",
    default: "127.0.0.1:7070",
    meaning:
      "host:port of the control plane's agent gRPC service; several replicas comma-separated (the agent starts at one picked by a hash of its id and moves to the next on a failure)",
  },
  {
    name: "PROBEMESH_AGENT_TOKEN",
    default: "(required)",
    meaning: "bearer token sent to the control plane; never logged",
  },
  {
    name: "PROBEMESH_AGENT_ID",
    default: "hostname, sanitized to [A-Za-z0-9_-]",
    meaning: "this agent's id; a NATS subject token (1-64 of A-Z a-z 0-9 _ -)",
  },
  { name: "PROBEMESH_REGION", default: "local", meaning: "region this agent probes from; a NATS subject token" },
  {
    name: "PROBEMESH_PROVIDER",
    default: "local",
    meaning: "hosting provider of this vantage point (free text, 1-64 printable characters)",
  },
  { name: "PROBEMESH_NATS_URL", default: "nats://127.0.0.1:4222", meaning: "NATS server URL(s), comma-separated" },
  {
    name: "PROBEMESH_STATE_DIR",
    default: "./.probemesh-agent-<id>",
    meaning: "directory for the assignment cache, sequence high-water mark and outbox",
  },
  { name: "PROBEMESH_LOG_LEVEL", default: "info", meaning: "fatal, error, warn, info, debug, trace or silent" },
  { name: "PROBEMESH_MAX_CONCURRENCY", default: "64", meaning: "most probe runs in flight at once (1-10000)" },
  {
    name: "PROBEMESH_OUTBOX_MAX_BYTES",
    default: "268435456 (256 MiB)",
    meaning: "disk outbox bound; bytes, or with a KiB/MiB/GiB suffix; oldest results are dropped beyond it",
  },
  {
    name: "PROBEMESH_PUBLISH_LINGER_MS",
    default: "40",
    meaning:
      "longest a result waits (ms, 0-1000) so results published together share one round trip to JetStream; 0 sends at once. Results not up, and the next 5 of their check, never wait",
  },
  {
    name: "PROBEMESH_CA_FILE",
    default: "(none)",
    meaning:
      "CA certificate (PEM) the control plane's gRPC and NATS server certificates are verified against; when set, gRPC uses TLS",
  },
  {
    name: "PROBEMESH_INSECURE",
    default: "false",
    meaning:
      "true allows plaintext gRPC to a control plane that is not on a loopback address (without PROBEMESH_CA_FILE, plaintext is otherwise allowed only to loopback)",
  },
  {
    name: "PROBEMESH_NATS_CREDS",
    default: "(none)",
    meaning:
      "NATS .creds file used when the control plane issues no NATS credentials; issued ones are kept in $PROBEMESH_STATE_DIR/nats.creds (0600)",
  },
  {
    name: "PROBEMESH_METRICS_ADDR",
    default: "(off)",
    meaning:
      "host:port of a plain-HTTP Prometheus GET /metrics without a token; a loopback or private address unless PROBEMESH_INSECURE=true",
  },
];

export { ConfigError };

const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const MIN_OUTBOX_BYTES = 64 * 1024;
const SIZE = /^(\d+)\s*(B|KiB|MiB|GiB|K|M|G)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Options for `loadConfig`, for tests. */
export interface LoadConfigOptions {
  /** @default os.hostname() */
  hostname?: string;
  /** Base for a relative state dir. @default process.cwd() */
  cwd?: string;
}

/** Turns a host name into a valid agent id (subject token): invalid characters become "-". */
export function sanitizeAgentId(host: string): string {
  const id = host.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
  return id === "" ? "agent" : id;
}

/** Parses and validates the agent's environment; throws `ConfigError` listing every bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): AgentConfig {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };

  const grpcRaw = get("PROBEMESH_GRPC_ADDR") ?? "127.0.0.1:7070";
  const grpcAddrs = grpcRaw.split(",").map((a) => a.trim());
  const badAddrs = new Set<string>();
  if (grpcAddrs.some((a) => a === ""))
    problems.push(`PROBEMESH_GRPC_ADDR: empty entry in the comma-separated list (got ${JSON.stringify(grpcRaw)})`);
  const seenAddrs = new Set<string>();
  for (const addr of grpcAddrs) {
    if (addr === "") continue;
    const p = hostPortProblem(addr);
    if (p) {
      badAddrs.add(addr);
      problems.push(`PROBEMESH_GRPC_ADDR: ${p} (got ${JSON.stringify(addr)})`);
      continue;
    }
    // Host names are case-insensitive: "CP1:7070" and "cp1:7070" are one replica listed twice.
    const key = addr.toLowerCase();
    if (seenAddrs.has(key)) problems.push(`PROBEMESH_GRPC_ADDR: ${addr} is listed more than once`);
    seenAddrs.add(key);
  }

  const agentToken = env["PROBEMESH_AGENT_TOKEN"] ?? "";
  if (agentToken.trim() === "") problems.push("PROBEMESH_AGENT_TOKEN: required (the control plane's agent token)");
  // The value is never echoed: it is a secret.
  else if (!/^[\x21-\x7e]+$/.test(agentToken))
    problems.push("PROBEMESH_AGENT_TOKEN: must be printable ASCII without spaces");

  const agentId = get("PROBEMESH_AGENT_ID") ?? sanitizeAgentId(options.hostname ?? osHostname());
  if (!isSubjectToken(agentId)) {
    problems.push(`PROBEMESH_AGENT_ID: must be 1-64 of A-Z a-z 0-9 _ - (got ${JSON.stringify(agentId)})`);
  }

  const region = get("PROBEMESH_REGION") ?? "local";
  if (!isSubjectToken(region))
    problems.push(`PROBEMESH_REGION: must be 1-64 of A-Z a-z 0-9 _ - (got ${JSON.stringify(region)})`);

  const provider = get("PROBEMESH_PROVIDER") ?? "local";
  if (!/^[\x20-\x7e]{1,64}$/.test(provider)) {
    problems.push(`PROBEMESH_PROVIDER: must be 1-64 printable ASCII characters (got ${JSON.stringify(provider)})`);
  }

  const natsRaw = get("PROBEMESH_NATS_URL") ?? "nats://127.0.0.1:4222";
  const natsServers = natsRaw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (natsServers.length === 0) problems.push("PROBEMESH_NATS_URL: no server URL given");
  for (const url of natsServers) {
    const p = natsUrlProblem(url);
    if (p) problems.push(`PROBEMESH_NATS_URL: ${p} (got ${JSON.stringify(url)})`);
  }

  const stateDir = resolve(options.cwd ?? process.cwd(), get("PROBEMESH_STATE_DIR") ?? `.probemesh-agent-${agentId}`);

  const logLevelRaw = (get("PROBEMESH_LOG_LEVEL") ?? "info").toLowerCase();
  const logLevel = LOG_LEVELS.find((l) => l === logLevelRaw);
  if (!logLevel)
    problems.push(`PROBEMESH_LOG_LEVEL: must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(logLevelRaw)})`);

  const concRaw = get("PROBEMESH_MAX_CONCURRENCY") ?? "64";
  const maxConcurrency = /^\d+$/.test(concRaw) ? Number(concRaw) : NaN;
  if (!(maxConcurrency >= 1 && maxConcurrency <= 10_000)) {
    problems.push(`PROBEMESH_MAX_CONCURRENCY: must be an integer from 1 to 10000 (got ${JSON.stringify(concRaw)})`);
  }

  const outboxRaw = get("PROBEMESH_OUTBOX_MAX_BYTES") ?? "256MiB";
  const outboxMaxBytes = parseSize(outboxRaw);
  if (outboxMaxBytes === undefined || outboxMaxBytes < MIN_OUTBOX_BYTES || outboxMaxBytes > Number.MAX_SAFE_INTEGER) {
    problems.push(
      `PROBEMESH_OUTBOX_MAX_BYTES: must be a size of at least 64KiB, e.g. 268435456 or 256MiB (got ${JSON.stringify(outboxRaw)})`,
    );
  }

  const lingerRaw = get("PROBEMESH_PUBLISH_LINGER_MS") ?? "40";
  const publishLingerMs = /^\d{1,4}$/.test(lingerRaw) ? Number(lingerRaw) : NaN;
  if (!(publishLingerMs >= 0 && publishLingerMs <= 1000)) {
    problems.push(`PROBEMESH_PUBLISH_LINGER_MS: must be an integer from 0 to 1000 (got ${JSON.stringify(lingerRaw)})`);
  }

  const caFile = get("PROBEMESH_CA_FILE");
  if (caFile !== undefined && !existsSync(caFile))
    problems.push(`PROBEMESH_CA_FILE: file ${JSON.stringify(caFile)} does not exist`);
  const natsCredsFile = get("PROBEMESH_NATS_CREDS");
  if (natsCredsFile !== undefined && !existsSync(natsCredsFile))
    problems.push(`PROBEMESH_NATS_CREDS: file ${JSON.stringify(natsCredsFile)} does not exist`);
  const insecureRaw = (get("PROBEMESH_INSECURE") ?? "false").toLowerCase();
  if (!["true", "false"].includes(insecureRaw))
    problems.push(`PROBEMESH_INSECURE: must be true or false (got ${JSON.stringify(insecureRaw)})`);
  const insecure = insecureRaw === "true";
  // The agent token and every check's secrets travel on this channel, whichever replica it reaches.
  if (caFile === undefined && !insecure)
    for (const addr of grpcAddrs)
      if (addr !== "" && !badAddrs.has(addr) && !isLoopbackHost(addr))
        problems.push(
          `PROBEMESH_GRPC_ADDR: ${addr} is not a loopback address: set PROBEMESH_CA_FILE to use TLS, or PROBEMESH_INSECURE=true to send the agent token in clear anyway`,
        );

  const metricsAddr = get("PROBEMESH_METRICS_ADDR");
  const metricsProblem = metricsAddr === undefined ? undefined : metricsAddrProblem(metricsAddr, insecure);
  if (metricsProblem) problems.push(`PROBEMESH_METRICS_ADDR: ${metricsProblem}`);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...(metricsAddr !== undefined ? { metricsAddr } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    insecure,
    ...(natsCredsFile !== undefined ? { natsCredsFile } : {}),
    grpcAddrs,
    agentToken,
    agentId,
    region,
    provider,
    natsServers,
    stateDir,
    logLevel: logLevel ?? "info",
    maxConcurrency,
    outboxMaxBytes: outboxMaxBytes ?? 0,
    publishLingerMs,
  };
}

/** True when host:port `addr` names a loopback host (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(addr: string): boolean {
  const host = addr
    .slice(0, addr.lastIndexOf(":"))
    .replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function parseSize(raw: string): number | undefined {
  const m = SIZE.exec(raw);
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? "b").toLowerCase()] ?? 1;
  return Number(m[1]) * unit;
}

function hostPortProblem(addr: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(addr);
  if (!m) return "must be host:port";
  const port = Number(m[2]);
  if (port < 1 || port > 65_535) return "port must be 1-65535";
  return undefined;
}

function natsUrlProblem(url: string): string | undefined {
  if (!url.includes("://")) return hostPortProblem(url) ? "must be a nats:// URL or host:port" : undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (!["nats:", "tls:"].includes(parsed.protocol)) return "scheme must be nats:// or tls://";
  if (parsed.hostname === "") return "host missing";
  return undefined;
}
