// Trust, transport half (issue 11): NATS in operator mode with TLS required, agents' minted NATS
// credentials limited to their own results subject, TLS on gRPC and the HTTP API, and `init`.
// Real nats-server, real TLS, the built programs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { create } from "@bufbuild/protobuf";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  CHECKS_BUCKET,
  DELIVERIES_SUBJECT_PREFIX,
  createAgentCredentialIssuer,
  ensureResultsStream,
  loadAgentCredentialIssuer,
  type AgentCredentialIssuer,
} from "@probemesh/control-plane";
import {
  AgentInfoSchema,
  AgentService,
  createGrpcClient,
  GetNatsCredentialsRequestSchema,
  resultSubject,
} from "@probemesh/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSecureNats, type SecureNatsServer } from "./harness/nats.js";
import { CONTROL_PLANE_BIN, startMesh, waitFor, type Mesh } from "./harness/mesh.js";

/** Resolves with the first status error of `nc` (permission violations arrive there), or undefined after `ms`. */
async function nextError(nc: NatsConnection, ms = 3000): Promise<string | undefined> {
  const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref());
  const error = (async () => {
    for await (const s of nc.status()) if (s.type === "error") return String(s.error);
    return undefined;
  })();
  return Promise.race([error, timeout]);
}

/**
 * The secure mesh runs the whole file: its agent renews its NATS credentials 40 s after it got them
 * (2/3 of the shortest lifetime allowed, 60 s), so the renewal block comes last and that wait runs
 * while the other blocks test.
 */
let mesh: Mesh;
afterAll(async () => {
  await mesh?.dispose();
});

describe("secure mesh: TLS gRPC and HTTPS, agents' NATS credentials from the control plane", () => {
  beforeAll(async () => {
    mesh = await startMesh({
      regions: ["eu-west"],
      secure: true,
      env: { PROBEMESH_AGENT_NATS_CREDS_TTL_SECONDS: "60" },
    });
  });

  it("the agent gets NATS credentials over TLS gRPC, keeps them 0600, and its results arrive", async () => {
    const check = {
      id: "tcp-trust",
      type: "tcp",
      intervalMs: 1000,
      timeoutMs: 500,
      tcp: { host: "127.0.0.1", port: 1 },
    };
    const created = await mesh.cp.request("/v1/checks", { method: "POST", body: JSON.stringify(check) });
    expect(created.status, await created.clone().text()).toBe(201);
    const agent = mesh.agents[0];
    if (!agent) throw new Error("no agent");
    const credsFile = join(agent.stateDir, "nats.creds");
    await waitFor(
      "results of the secure agent",
      async () => {
        const res = await mesh.cp.request(`/v1/checks/${check.id}/results?limit=1`);
        const body = (await res.json()) as unknown;
        return Array.isArray(body) && body.length > 0;
      },
      60_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
    });
    expect(statSync(credsFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(credsFile, "utf8")).toContain("-----BEGIN NATS USER JWT-----");
    expect(mesh.diagnostics(100_000)).toContain("NATS credentials received");
  });

  it("refuses plaintext gRPC and plaintext HTTP", async () => {
    const client = createGrpcClient(AgentService, mesh.cp.grpcAddr, credentials.createInsecure());
    try {
      const md = new Metadata();
      md.set("authorization", "Bearer whatever");
      const err = await new Promise<ServiceError | null>((resolve) =>
        client.getNatsCredentials(
          create(GetNatsCredentialsRequestSchema, {
            agent: create(AgentInfoSchema, { id: "x", region: "eu-west", provider: "p", version: "1" }),
          }),
          md,
          { deadline: Date.now() + 3000 },
          (e) => resolve(e),
        ),
      );
      expect(err?.code).toBe(status.UNAVAILABLE);
    } finally {
      client.close();
    }
    expect(mesh.cp.api).toMatch(/^https:/);
    await expect(fetch(`${mesh.cp.api.replace("https:", "http:")}/healthz`)).rejects.toThrow();
  });
});

describe("secure NATS: operator mode, TLS required", () => {
  let nats: SecureNatsServer;
  let cp: NatsConnection;
  let issuer: AgentCredentialIssuer;

  beforeAll(async () => {
    nats = await startSecureNats();
    cp = await nats.connect();
    // What the control plane does at start: the results stream and a KV bucket exist.
    await ensureResultsStream(await jetstreamManager(cp));
    await new Kvm(cp).create(CHECKS_BUCKET);
    const maybe = loadAgentCredentialIssuer({
      natsSigningKeyFile: nats.signingKeyFile,
      natsCredsFile: nats.controlPlaneCreds,
      agentNatsCredsTtlMs: 60_000,
    });
    if (!maybe) throw new Error("no issuer");
    issuer = maybe;
  });
  afterAll(async () => {
    await cp?.close();
    await nats?.dispose();
  });

  const asAgent = async (id: string, region: string) => {
    const { creds } = await issuer.issue({ id, region });
    return nats.connect({ creds, inboxPrefix: `_INBOX_${id}` });
  };

  it("refuses a connection without credentials", async () => {
    await expect(connect({ servers: nats.url, tls: { caFile: nats.caFile }, timeout: 3000 })).rejects.toThrow(
      /Authorization Violation/i,
    );
  });

  it("refuses a plaintext connection", async () => {
    // nats.js upgrades to TLS by itself when the server asks, so speak the protocol raw.
    const seen = await new Promise<string>((resolve) => {
      let text = "";
      const socket = connectTcp(nats.port, "127.0.0.1");
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => {
        text += d;
        if (text.includes("INFO ") && !text.includes("sent")) {
          text += "\n(sent)";
          socket.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":false}\r\nPING\r\n');
        }
      });
      socket.on("close", () => resolve(text));
      socket.on("error", () => undefined);
      setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 5000).unref();
    });
    expect(seen).toMatch(/"tls_required":true/);
    expect(seen).not.toContain("PONG");
  });

  it("refuses a server certificate from another CA", async () => {
    const other = mkdtempSync(join(tmpdir(), "probemesh-other-ca-"));
    try {
      const r = spawnSync(process.execPath, [
        CONTROL_PLANE_BIN,
        "init",
        "--dir",
        other,
        "--nats-listen",
        "127.0.0.1:1",
      ]);
      expect(r.status).toBe(0);
      await expect(
        connect({ servers: nats.url, tls: { caFile: join(other, "ca.pem") }, timeout: 3000, reconnect: false }),
      ).rejects.toThrow();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("lets an agent publish its own results subjects (partitioned or not), and nothing else", async () => {
    const nc = await asAgent("agent-a", "eu-west");
    try {
      const js = jetstream(nc);
      for (const subject of [resultSubject("eu-west", "agent-a"), resultSubject("eu-west", "agent-a", 7)]) {
        const ack = await js.publish(subject, new Uint8Array([1]), { timeout: 3000 });
        expect(ack.stream, subject).toBe("PROBEMESH_RESULTS");
      }

      // Another agent's subject, another region's, the hook queue: permission violations.
      for (const subject of [
        resultSubject("eu-west", "agent-b"),
        resultSubject("us-east", "agent-a"),
        resultSubject("eu-west", "agent-b", 7),
        `${resultSubject("eu-west", "agent-a", 7)}.extra`,
        `${DELIVERIES_SUBJECT_PREFIX}.some-hook`,
      ]) {
        const violation = nextError(nc);
        await expect(js.publish(subject, new Uint8Array([1]), { timeout: 2000 })).rejects.toThrow();
        expect(await violation, subject).toMatch(new RegExp(`Permissions Violation for Publish to "${subject}"`));
      }
    } finally {
      await nc.close();
    }
  });

  it("gives an agent no KV, no stream API and no other subscriptions", async () => {
    const nc = await asAgent("agent-k", "eu-west");
    try {
      await expect(
        (async () => {
          const kv = await new Kvm(nc).open(CHECKS_BUCKET);
          await kv.get("anything");
        })(),
      ).rejects.toThrow();
      // checkAPI: false, so the add itself is what gets refused (not the API probe before it).
      const jsm = await jetstreamManager(nc, { timeout: 2000, checkAPI: false });
      await expect(jsm.streams.add({ name: "EVIL", subjects: ["evil.>"] })).rejects.toThrow();
      const violation = nextError(nc);
      nc.subscribe("probemesh.results.>");
      expect(await violation).toMatch(/Permissions Violation for Subscription to "probemesh\.results\.>"/);
      // Nothing was created.
      await expect((await jetstreamManager(cp)).streams.info("EVIL")).rejects.toThrow(/not found/);
    } finally {
      await nc.close();
    }
  });

  it("ends an agent's connection when its credentials expire", async () => {
    const short = createAgentCredentialIssuer({
      signingKeySeed: readFileSync(nats.signingKeyFile, "utf8"),
      account: issuer.account,
      ttlMs: 1500,
    });
    const { creds, expiresAt } = await short.issue({ id: "agent-x", region: "eu-west" });
    const nc = await nats.connect({ creds, inboxPrefix: "_INBOX_agent-x" });
    const closedAt = await Promise.race([
      nc.closed().then(() => Date.now()),
      (async () => {
        for await (const s of nc.status()) if (s.type === "disconnect" || s.type === "error") return Date.now();
        return Date.now();
      })(),
    ]);
    expect(closedAt).toBeGreaterThanOrEqual(expiresAt - 1000);
    await nc.close();
  });
});

describe("probemesh-control-plane init (built program)", () => {
  it("is idempotent: a second run changes no file; secrets are 0600", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "probemesh-init-e2e-")), "trust");
    try {
      const run = () =>
        spawnSync(process.execPath, [CONTROL_PLANE_BIN, "init", "--dir", dir, "--nats-listen", "0.0.0.0:4222"], {
          encoding: "utf8",
        });
      const first = run();
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout).not.toMatch(/pmt_|SA[A-Z2-7]{50}|k1:/);
      const snapshot = () =>
        new Map(
          readdirSync(dir, { recursive: true, withFileTypes: true })
            .filter((e) => e.isFile())
            .map((e) => {
              const path = join(e.parentPath, e.name);
              return [relative(dir, path), `${statSync(path).mode & 0o777}:${readFileSync(path, "utf8")}`] as const;
            }),
        );
      const before = snapshot();
      const second = run();
      expect(second.status).toBe(0);
      expect(second.stdout).not.toContain("created");
      expect(snapshot()).toEqual(before);
      for (const secret of [
        "ca-key.pem",
        "server-key.pem",
        "control-plane.creds",
        "control-plane.env",
        "nats-signing-key.nk",
        "nats/keys/operator.nk",
      ])
        expect(statSync(join(dir, secret)).mode & 0o777, secret).toBe(0o600);
    } finally {
      rmSync(join(dir, ".."), { recursive: true, force: true });
    }
  });

  it("refuses to start the control plane on 0.0.0.0 without TLS or PROBEMESH_INSECURE", () => {
    const r = spawnSync(process.execPath, [CONTROL_PLANE_BIN], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "",
        PROBEMESH_API_TOKEN: "t",
        PROBEMESH_HTTP_ADDR: "0.0.0.0:0",
        PROBEMESH_GRPC_ADDR: "127.0.0.1:0",
      },
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/PROBEMESH_HTTP_ADDR: 0\.0\.0\.0:0 is not a loopback address and there is no TLS/);
  });
});

describe("secure mesh, about 40 s on: agents' NATS credentials renewed", () => {
  it("renews the agent's credentials before they expire, and results keep arriving", async () => {
    const agent = mesh.agents[0];
    if (!agent) throw new Error("no agent");
    await waitFor("a renewal", () => agent.proc.output().includes("NATS credentials renewed"), 60_000, 500).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
      },
    );
    const renewedAt = Date.now();
    await waitFor(
      "a result published with the renewed credentials",
      async () => {
        const res = await mesh.cp.request(`/v1/checks/tcp-trust/results?from=${renewedAt}&limit=1`);
        const body = (await res.json()) as unknown;
        return Array.isArray(body) && body.length > 0;
      },
      30_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
    });
    expect(agent.proc.output()).not.toMatch(/Authentication Expired|Authorization Violation/i);
  });
});
