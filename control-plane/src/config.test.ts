import { describe, expect, it } from "vitest";
import { ValidationError } from "./errors.js";
import { loadConfig, redactUrl } from "./config.js";

const tokens = { PROBEMESH_API_TOKEN: "api-secret" };

function problems(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("loadConfig", () => {
  it("has localhost defaults for everything but the tokens", () => {
    expect(loadConfig(tokens)).toEqual({
      natsUrl: ["nats://127.0.0.1:4222"],
      clickhouseUrl: "http://127.0.0.1:8123",
      clickhouseDatabase: "probemesh",
      httpAddr: "127.0.0.1:8080",
      grpcAddr: "127.0.0.1:7070",
      apiToken: "api-secret",
      publicStatus: false,
      ignored: [],
      logLevel: "info",
      retentionDays: 30,
    });
  });

  it("reads every variable", () => {
    const c = loadConfig({
      ...tokens,
      PROBEMESH_NATS_URL: "nats://a:4222, nats://b:4222",
      PROBEMESH_CLICKHOUSE_URL: "https://ch.example:8443",
      PROBEMESH_CLICKHOUSE_DATABASE: "pm_test",
      PROBEMESH_HTTP_ADDR: "0.0.0.0:9000",
      PROBEMESH_GRPC_ADDR: "[::1]:7071",
      PROBEMESH_LOG_LEVEL: "DEBUG",
      PROBEMESH_RETENTION_DAYS: "7",
    });
    expect(c).toMatchObject({
      natsUrl: ["nats://a:4222", "nats://b:4222"],
      clickhouseUrl: "https://ch.example:8443",
      clickhouseDatabase: "pm_test",
      httpAddr: "0.0.0.0:9000",
      grpcAddr: "[::1]:7071",
      logLevel: "debug",
      retentionDays: 7,
    });
  });

  it("lists every problem at once, naming each variable", () => {
    const e = problems({
      PROBEMESH_NATS_URL: "http://x",
      PROBEMESH_CLICKHOUSE_URL: "localhost:8123",
      PROBEMESH_CLICKHOUSE_DATABASE: "drop table",
      PROBEMESH_HTTP_ADDR: "8080",
      PROBEMESH_GRPC_ADDR: "host:99999",
      PROBEMESH_PUBLIC_STATUS: "yes",
      PROBEMESH_LOG_LEVEL: "loud",
      PROBEMESH_RETENTION_DAYS: "0",
    });
    const fields = (e.details?.problems as { field: string }[]).map((p) => p.field);
    expect(fields).toEqual([
      "PROBEMESH_NATS_URL",
      "PROBEMESH_CLICKHOUSE_URL",
      "PROBEMESH_CLICKHOUSE_DATABASE",
      "PROBEMESH_HTTP_ADDR",
      "PROBEMESH_GRPC_ADDR",
      "PROBEMESH_API_TOKEN",
      "PROBEMESH_PUBLIC_STATUS",
      "PROBEMESH_LOG_LEVEL",
      "PROBEMESH_RETENTION_DAYS",
    ]);
  });

  it("never echoes a token value", () => {
    const e = problems({ PROBEMESH_API_TOKEN: "has space secret" });
    expect(JSON.stringify({ m: e.message, d: e.details })).not.toContain("secret");
  });

  it("no longer reads a shared PROBEMESH_AGENT_TOKEN: it is reported as ignored (main.ts warns once)", () => {
    expect(loadConfig({ ...tokens, PROBEMESH_AGENT_TOKEN: "agent-secret" }).ignored).toEqual(["PROBEMESH_AGENT_TOKEN"]);
    expect(JSON.stringify(loadConfig({ ...tokens, PROBEMESH_AGENT_TOKEN: "agent-secret" }))).not.toContain(
      "agent-secret",
    );
  });

  it("turns the public status on with PROBEMESH_PUBLIC_STATUS=true only", () => {
    expect(loadConfig({ ...tokens, PROBEMESH_PUBLIC_STATUS: "true" }).publicStatus).toBe(true);
    expect(loadConfig({ ...tokens, PROBEMESH_PUBLIC_STATUS: "false" }).publicStatus).toBe(false);
  });

  it("accepts host:port NATS servers, as the agent does for the same variable", () => {
    expect(loadConfig({ ...tokens, PROBEMESH_NATS_URL: "127.0.0.1:4222,nats://b:4222" }).natsUrl).toEqual([
      "127.0.0.1:4222",
      "nats://b:4222",
    ]);
    expect(problems({ ...tokens, PROBEMESH_NATS_URL: "127.0.0.1" }).details?.field).toBe("PROBEMESH_NATS_URL");
  });

  it("never echoes a password given in a URL", () => {
    const e = problems({
      ...tokens,
      PROBEMESH_NATS_URL: "http://u:natspw@x:1",
      PROBEMESH_CLICKHOUSE_URL: "ftp://u:chpw@x:1",
    });
    expect(JSON.stringify({ m: e.message, d: e.details })).not.toMatch(/natspw|chpw/);
  });

  it.each(["1.5", "-1", "abc", "36501"])("rejects retention %s", (days) => {
    expect(problems({ ...tokens, PROBEMESH_RETENTION_DAYS: days }).details?.field).toBe("PROBEMESH_RETENTION_DAYS");
  });
});

describe("redactUrl", () => {
  it.each([
    ["http://default:s3cret@ch:8123", "http://default:***@ch:8123"],
    ["nats://tok3n@n:4222", "nats://***@n:4222"],
    ["http://u:p@ss@ch:8123/?database=x", "http://u:***@ch:8123/?database=x"],
    ["nats://n:4222", "nats://n:4222"],
    ["127.0.0.1:4222", "127.0.0.1:4222"],
    ["http://ch:8123/?q=a@b", "http://ch:8123/?q=a@b"],
  ])("%s -> %s", (input, output) => {
    expect(redactUrl(input)).toBe(output);
  });
});
