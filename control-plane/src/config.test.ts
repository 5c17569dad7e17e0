import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ValidationError } from "./errors.js";
import { loadConfig, redactUrl } from "./config.js";

const KEY = Buffer.alloc(32, 7).toString("base64");
const tokens = {
  PROBEMESH_API_TOKEN: "api-secret",
  PROBEMESH_SECRET_KEY: `k1:${KEY}`,
};

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
      secretKeys: { keys: [{ id: "k1", key: Buffer.alloc(32, 7) }] },
      insecure: false,
      agentNatsCredsTtlMs: 900_000,
      jetstreamReplicas: 1,
      partitions: 16,
      eventsClientBuffer: 1000,
      replicaId: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    });
  });

  it("takes PROBEMESH_REPLICA_ID as the lease owner id, refusing what a lease key cannot hold", () => {
    expect(loadConfig({ ...tokens, PROBEMESH_REPLICA_ID: "cp-eu-1" }).replicaId).toBe("cp-eu-1");
    const fields = (
      problems({ ...tokens, PROBEMESH_REPLICA_ID: "cp.eu 1" }).details?.problems as { field: string }[]
    ).map((p) => p.field);
    expect(fields).toEqual(["PROBEMESH_REPLICA_ID"]);
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
      PROBEMESH_INSECURE: "true",
      PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS: "120",
      PROBEMESH_JETSTREAM_REPLICAS: "3",
      PROBEMESH_PARTITIONS: "1024",
    });
    expect(c).toMatchObject({
      jetstreamReplicas: 3,
      partitions: 1024,
      insecure: true,
      agentNatsCredsTtlMs: 120_000,
      natsUrl: ["nats://a:4222", "nats://b:4222"],
      clickhouseUrl: "https://ch.example:8443",
      clickhouseDatabase: "pm_test",
      httpAddr: "0.0.0.0:9000",
      grpcAddr: "[::1]:7071",
      logLevel: "debug",
      retentionDays: 7,
    });
  });

  it("takes 1 to 5 JetStream replicas", () => {
    for (const bad of ["0", "6", "2.5", "three", "-1"])
      expect(problems({ ...tokens, PROBEMESH_JETSTREAM_REPLICAS: bad }).details?.problems, bad).toEqual([
        expect.objectContaining({ field: "PROBEMESH_JETSTREAM_REPLICAS" }),
      ]);
    expect(loadConfig({ ...tokens, PROBEMESH_JETSTREAM_REPLICAS: "5" }).jetstreamReplicas).toBe(5);
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
      "PROBEMESH_SECRET_KEY",
    ]);
  });

  it("reads a key ring for secrets at rest, first key sealing, and names every bad entry without its bytes", () => {
    const other = Buffer.alloc(32, 9).toString("base64");
    const ring = loadConfig({ ...tokens, PROBEMESH_SECRET_KEY: `new:${other}, old:${KEY}` }).secretKeys;
    expect(ring?.keys.map((k) => k.id)).toEqual(["new", "old"]);
    const short = Buffer.alloc(16, 1).toString("base64");
    const e = problems({ ...tokens, PROBEMESH_SECRET_KEY: `a:${short},b c:${KEY},a:${KEY},nocolon,d:!!!` });
    const messages = (e.details?.problems as { field: string; message: string }[]).map((p) => p.message);
    expect(messages).toEqual([
      'key "a" is 16 bytes; AES-256 needs 32 (e.g. openssl rand -base64 32)',
      'key 2: the key id must be 1 to 32 letters, digits, "_" or "-"',
      "key 4 is not <keyId>:<base64 of 32 bytes>",
      'key "d" is not base64',
    ]);
    expect(JSON.stringify(e.details)).not.toContain(short);
  });

  it("requires PROBEMESH_SECRET_KEY unless PROBEMESH_INSECURE=true (secrets then stored in clear)", () => {
    const { PROBEMESH_SECRET_KEY: _key, ...noKey } = tokens;
    expect(problems(noKey).details?.field).toBe("PROBEMESH_SECRET_KEY");
    expect(loadConfig({ ...noKey, PROBEMESH_INSECURE: "true" }).secretKeys).toBeUndefined();
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

  it.each(["0", "1025", "-1", "2.5", "sixteen", "1e2", "00016x"])(
    "rejects PROBEMESH_PARTITIONS=%s, naming the range",
    (p) => {
      const e = problems({ ...tokens, PROBEMESH_PARTITIONS: p });
      expect(e.details?.field).toBe("PROBEMESH_PARTITIONS");
      expect(JSON.stringify(e.details)).toContain("between 1 and 1024");
    },
  );

  it.each([
    ["1", 1],
    ["16", 16],
    [" 64 ", 64],
    ["1024", 1024],
  ])("accepts PROBEMESH_PARTITIONS=%j", (raw, n) => {
    expect(loadConfig({ ...tokens, PROBEMESH_PARTITIONS: raw }).partitions).toBe(n);
  });
});

describe("loadConfig: TLS and NATS credentials", () => {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string) => {
    const path = join(dir, name);
    writeFileSync(path, "x");
    return path;
  };

  it("reads the file variables", () => {
    const files = {
      PROBEMESH_NATS_CREDS: f("cp.creds"),
      PROBEMESH_CA_FILE: f("ca.pem"),
      PROBEMESH_TLS_CERT: f("server.pem"),
      PROBEMESH_TLS_KEY: f("server-key.pem"),
      PROBEMESH_NATS_SIGNING_KEY_FILE: f("signing.nk"),
    };
    expect(loadConfig({ ...tokens, ...files, PROBEMESH_HTTP_ADDR: "0.0.0.0:8080" })).toMatchObject({
      natsCredsFile: files.PROBEMESH_NATS_CREDS,
      caFile: files.PROBEMESH_CA_FILE,
      tls: { certFile: files.PROBEMESH_TLS_CERT, keyFile: files.PROBEMESH_TLS_KEY },
      natsSigningKeyFile: files.PROBEMESH_NATS_SIGNING_KEY_FILE,
      insecure: false,
    });
  });

  it.each(["0.0.0.0:8080", "10.1.2.3:8080", "[::]:8080", "cp.example:8080"])(
    "refuses to serve plaintext on non-loopback %s unless PROBEMESH_INSECURE=true",
    (addr) => {
      const e = problems({ ...tokens, PROBEMESH_GRPC_ADDR: addr });
      expect(e.details?.problems).toEqual([
        { field: "PROBEMESH_GRPC_ADDR", message: expect.stringMatching(/not a loopback address and there is no TLS/) },
      ]);
      expect(loadConfig({ ...tokens, PROBEMESH_GRPC_ADDR: addr, PROBEMESH_INSECURE: "true" }).grpcAddr).toBe(addr);
    },
  );

  it.each(["127.0.0.1:1", "127.9.9.9:1", "[::1]:1", "localhost:1"])("serves plaintext on loopback %s", (addr) => {
    expect(loadConfig({ ...tokens, PROBEMESH_HTTP_ADDR: addr }).httpAddr).toBe(addr);
  });

  it("lists missing files, a lone certificate, a signing key without creds and a bad TTL", () => {
    const e = problems({
      ...tokens,
      PROBEMESH_CA_FILE: join(dir, "missing.pem"),
      PROBEMESH_TLS_CERT: f("only.pem"),
      PROBEMESH_NATS_SIGNING_KEY_FILE: f("sk.nk"),
      PROBEMESH_INSECURE: "yes",
      PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS: "30",
    });
    expect((e.details?.problems as { field: string }[]).map((p) => p.field)).toEqual([
      "PROBEMESH_CA_FILE",
      "PROBEMESH_TLS_KEY",
      "PROBEMESH_NATS_SIGNING_KEY_FILE",
      "PROBEMESH_INSECURE",
      "PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS",
    ]);
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
