import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AGENT_ENV_VARS, ConfigError, loadConfig, sanitizeAgentId } from "./config.js";

const base = { PROBEMESH_AGENT_TOKEN: "s3cret-token" };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, { hostname: "box", cwd: "/srv" });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("loadConfig", () => {
  it("applies documented defaults", () => {
    const c = loadConfig(base, { hostname: "probe-01.example.com", cwd: "/srv" });
    expect(c).toEqual({
      grpcAddrs: ["127.0.0.1:7070"],
      agentToken: "s3cret-token",
      agentId: "probe-01-example-com",
      region: "local",
      provider: "local",
      natsServers: ["nats://127.0.0.1:4222"],
      stateDir: "/srv/.probemesh-agent-probe-01-example-com",
      logLevel: "info",
      maxConcurrency: 64,
      outboxMaxBytes: 256 * 1024 * 1024,
      publishLingerMs: 40,
      insecure: false,
    });
  });

  it("reads every variable", () => {
    const c = loadConfig(
      {
        ...base,
        PROBEMESH_GRPC_ADDR: "[::1]:9000",
        PROBEMESH_AGENT_ID: "a_1",
        PROBEMESH_REGION: "eu-west",
        PROBEMESH_PROVIDER: "hetzner",
        PROBEMESH_NATS_URL: "nats://10.0.0.1:4222, tls://n2:4443",
        PROBEMESH_STATE_DIR: "state",
        PROBEMESH_LOG_LEVEL: "DEBUG",
        PROBEMESH_MAX_CONCURRENCY: "8",
        PROBEMESH_OUTBOX_MAX_BYTES: "2MiB",
        PROBEMESH_PUBLISH_LINGER_MS: "0",
      },
      { cwd: "/srv" },
    );
    expect(c.grpcAddrs).toEqual(["[::1]:9000"]);
    expect(c.agentId).toBe("a_1");
    expect(c.region).toBe("eu-west");
    expect(c.provider).toBe("hetzner");
    expect(c.natsServers).toEqual(["nats://10.0.0.1:4222", "tls://n2:4443"]);
    expect(c.stateDir).toBe("/srv/state");
    expect(c.logLevel).toBe("debug");
    expect(c.maxConcurrency).toBe(8);
    expect(c.outboxMaxBytes).toBe(2 * 1024 * 1024);
    expect(c.publishLingerMs).toBe(0);
  });

  it("names every bad value in one error", () => {
    const problems = problemsOf({
      PROBEMESH_GRPC_ADDR: "localhost",
      PROBEMESH_AGENT_ID: "a.b",
      PROBEMESH_REGION: "eu west",
      PROBEMESH_PROVIDER: "x".repeat(65),
      PROBEMESH_NATS_URL: "http://x:1",
      PROBEMESH_LOG_LEVEL: "loud",
      PROBEMESH_MAX_CONCURRENCY: "0",
      PROBEMESH_OUTBOX_MAX_BYTES: "lots",
      PROBEMESH_PUBLISH_LINGER_MS: "soon",
    });
    const vars = problems.map((p) => p.split(":")[0]);
    expect(vars).toEqual([
      "PROBEMESH_GRPC_ADDR",
      "PROBEMESH_AGENT_TOKEN",
      "PROBEMESH_AGENT_ID",
      "PROBEMESH_REGION",
      "PROBEMESH_PROVIDER",
      "PROBEMESH_NATS_URL",
      "PROBEMESH_LOG_LEVEL",
      "PROBEMESH_MAX_CONCURRENCY",
      "PROBEMESH_OUTBOX_MAX_BYTES",
      "PROBEMESH_PUBLISH_LINGER_MS",
    ]);
  });

  it.each([
    ["PROBEMESH_GRPC_ADDR", "127.0.0.1:70000"],
    ["PROBEMESH_GRPC_ADDR", "host:"],
    ["PROBEMESH_AGENT_ID", "x".repeat(65)],
    ["PROBEMESH_AGENT_ID", "a*"],
    ["PROBEMESH_REGION", "eu.west"],
    ["PROBEMESH_REGION", ">"],
    ["PROBEMESH_NATS_URL", "nats://"],
    ["PROBEMESH_MAX_CONCURRENCY", "1.5"],
    ["PROBEMESH_MAX_CONCURRENCY", "10001"],
    ["PROBEMESH_OUTBOX_MAX_BYTES", "1000"],
    ["PROBEMESH_OUTBOX_MAX_BYTES", "-5MiB"],
    ["PROBEMESH_PUBLISH_LINGER_MS", "1001"],
    ["PROBEMESH_PUBLISH_LINGER_MS", "-1"],
    ["PROBEMESH_PUBLISH_LINGER_MS", "2.5"],
  ])("rejects %s=%s", (name, value) => {
    const problems = problemsOf({ ...base, [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
  });

  it("never echoes the token", () => {
    const problems = problemsOf({ PROBEMESH_AGENT_TOKEN: "has space", PROBEMESH_REGION: "bad region" });
    expect(problems.join("\n")).not.toContain("has space");
    expect(problems[0]).toMatch(/^PROBEMESH_AGENT_TOKEN: /);
  });

  it("uses TLS towards the control plane when PROBEMESH_CA_FILE is set, and reads the NATS creds file", () => {
    const ca = new URL("../package.json", import.meta.url).pathname;
    const c = loadConfig(
      { ...base, PROBEMESH_GRPC_ADDR: "cp.example:7070", PROBEMESH_CA_FILE: ca, PROBEMESH_NATS_CREDS: ca },
      { cwd: "/srv" },
    );
    expect(c).toMatchObject({ caFile: ca, natsCredsFile: ca, insecure: false });
    expect(problemsOf({ ...base, PROBEMESH_CA_FILE: "/nonexistent/ca.pem" })).toEqual([
      'PROBEMESH_CA_FILE: file "/nonexistent/ca.pem" does not exist',
    ]);
  });

  it("refuses plaintext gRPC to a non-loopback control plane unless PROBEMESH_INSECURE=true", () => {
    const problems = problemsOf({ ...base, PROBEMESH_GRPC_ADDR: "10.0.0.1:7070" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^PROBEMESH_GRPC_ADDR: 10\.0\.0\.1:7070 is not a loopback address: set PROBEMESH_CA_FILE/,
    );
    const c = loadConfig({ ...base, PROBEMESH_GRPC_ADDR: "10.0.0.1:7070", PROBEMESH_INSECURE: "true" }, { cwd: "/" });
    expect(c.insecure).toBe(true);
    for (const addr of ["127.0.0.1:7070", "localhost:7070", "[::1]:7070"])
      expect(loadConfig({ ...base, PROBEMESH_GRPC_ADDR: addr }, { cwd: "/" }).grpcAddrs).toEqual([addr]);
    expect(problemsOf({ ...base, PROBEMESH_INSECURE: "maybe" })[0]).toMatch(/^PROBEMESH_INSECURE: /);
  });

  it("reads a comma-separated list of control-plane replicas, in order", () => {
    const c = loadConfig({ ...base, PROBEMESH_GRPC_ADDR: " 127.0.0.1:7070, localhost:7071 ,[::1]:7072" }, { cwd: "/" });
    expect(c.grpcAddrs).toEqual(["127.0.0.1:7070", "localhost:7071", "[::1]:7072"]);
  });

  it("names each bad entry of the replica list, duplicates and empty entries included", () => {
    expect(problemsOf({ ...base, PROBEMESH_GRPC_ADDR: "127.0.0.1:7070,cp2,127.0.0.1:99999" })).toEqual([
      'PROBEMESH_GRPC_ADDR: must be host:port (got "cp2")',
      'PROBEMESH_GRPC_ADDR: port must be 1-65535 (got "127.0.0.1:99999")',
    ]);
    expect(problemsOf({ ...base, PROBEMESH_GRPC_ADDR: "localhost:7070,LOCALHOST:7070" })).toEqual([
      "PROBEMESH_GRPC_ADDR: LOCALHOST:7070 is listed more than once",
    ]);
    expect(problemsOf({ ...base, PROBEMESH_GRPC_ADDR: "127.0.0.1:7070,,127.0.0.1:7071" })).toEqual([
      'PROBEMESH_GRPC_ADDR: empty entry in the comma-separated list (got "127.0.0.1:7070,,127.0.0.1:7071")',
    ]);
  });

  it("refuses plaintext to any non-loopback replica of the list, and allows TLS to all", () => {
    expect(problemsOf({ ...base, PROBEMESH_GRPC_ADDR: "127.0.0.1:7070,10.0.0.2:7070" })).toEqual([
      expect.stringMatching(/^PROBEMESH_GRPC_ADDR: 10\.0\.0\.2:7070 is not a loopback address: set PROBEMESH_CA_FILE/),
    ]);
    const ca = new URL("../package.json", import.meta.url).pathname;
    const c = loadConfig({ ...base, PROBEMESH_GRPC_ADDR: "cp1.example:7070,cp2.example:7070", PROBEMESH_CA_FILE: ca });
    expect(c.grpcAddrs).toEqual(["cp1.example:7070", "cp2.example:7070"]);
  });

  it("sanitizes host names into agent ids", () => {
    expect(sanitizeAgentId("ip-10-0-0-1.ec2.internal")).toBe("ip-10-0-0-1-ec2-internal");
    expect(sanitizeAgentId("")).toBe("agent");
    expect(sanitizeAgentId("h".repeat(100))).toHaveLength(64);
  });

  it("documents every variable it reads", () => {
    const names = AGENT_ENV_VARS.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    // Every variable the loader reads is in the table (and so in --help and the README).
    const source = readFileSync(new URL("./config.ts", import.meta.url), "utf8");
    const read = new Set(source.match(/PROBEMESH_[A-Z_]+/g));
    expect(new Set(names)).toEqual(read);
  });
});

describe("README", () => {
  it("documents every variable in its configuration table", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const v of AGENT_ENV_VARS) expect(readme).toContain(`| \`${v.name}\` |`);
  });
});
