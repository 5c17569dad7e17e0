import { create } from "@bufbuild/protobuf";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  AgentService,
  AgentInfoSchema,
  createGrpcClient,
  GetNatsCredentialsRequestSchema,
  type GetNatsCredentialsResponse,
  type GrpcClient,
} from "@probemesh/proto";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createAgentCredentialIssuer, type AgentCredentialIssuer } from "../trust/agent-credentials.js";
import { credsJwt, decodeUser, newSeed, publicKeyOf } from "../trust/nats-jwt.js";
import { createCa, issueServerCert } from "../trust/pki.js";
import type { ServerTls } from "../trust/tls-files.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createAgentService } from "./agent-service.js";
import { startGrpcServer, type GrpcServer } from "./grpc-server.js";

const log = pino({ level: "silent" });

describe("GetNatsCredentials over a TLS gRPC server", () => {
  let server: GrpcServer | undefined;
  const clients: GrpcClient<typeof AgentService>[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close(1000);
  });

  let TOKEN = "";
  async function setup(issuer?: AgentCredentialIssuer) {
    const enrollments = createMemoryEnrollments();
    TOKEN = (await enrollments.enroll({ id: "a1", region: "eu-west", provider: "p" })).token;
    const ca = await createCa({ commonName: "test CA" });
    const pair = await issueServerCert({ ca, sans: [] });
    const tls: ServerTls = { cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem) };
    const service = createAgentService({
      registry: createMemoryRegistry({ log }),
      agents: createMemoryAgentDirectory(),
      enrollments,
      log,
      partitions: 16,
      ...(issuer ? { natsCredentials: issuer } : {}),
    });
    server = await startGrpcServer({ addr: "127.0.0.1:0", service, log, tls });
    const client = (creds = credentials.createSsl(Buffer.from(ca.certPem))) => {
      const c = createGrpcClient(AgentService, `127.0.0.1:${server?.port ?? 0}`, creds);
      clients.push(c);
      return c;
    };
    return { client };
  }

  const call = (client: GrpcClient<typeof AgentService>, token?: string, deadlineMs = 5000, region = "eu-west") =>
    new Promise<GetNatsCredentialsResponse>((resolve, reject) => {
      const md = new Metadata();
      md.set("authorization", `Bearer ${token ?? TOKEN}`);
      const request = create(GetNatsCredentialsRequestSchema, {
        agent: create(AgentInfoSchema, { id: "a1", region, provider: "p", version: "1" }),
      });
      client.getNatsCredentials(request, md, { deadline: Date.now() + deadlineMs }, (err, res) =>
        err || !res ? reject(err ?? new Error("no response")) : resolve(res),
      );
    });

  it("returns credentials for the calling agent, verified against the CA", async () => {
    const account = publicKeyOf(newSeed("account"));
    const issuer = createAgentCredentialIssuer({ signingKeySeed: newSeed("account"), account, ttlMs: 60_000 });
    const { client } = await setup(issuer);
    const before = Date.now();
    const res = await call(client());
    expect(Number(res.expiresAt)).toBeGreaterThanOrEqual(Math.floor((before + 60_000) / 1000) * 1000);
    const claims = decodeUser(credsJwt(res.creds) ?? "");
    expect(claims.nats.issuer_account).toBe(account);
    expect(claims.nats.pub?.allow).toEqual(["probemesh.results.eu-west.a1", "probemesh.results.eu-west.a1.*"]);
  });

  it("answers FAILED_PRECONDITION without a signing key, UNAUTHENTICATED without the token", async () => {
    const { client } = await setup();
    const c = client();
    await expect(call(c)).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    await expect(call(c, "wrong")).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("refuses credentials for a region other than the agent's enrollment", async () => {
    const account = publicKeyOf(newSeed("account"));
    const issuer = createAgentCredentialIssuer({ signingKeySeed: newSeed("account"), account, ttlMs: 60_000 });
    const { client } = await setup(issuer);
    await expect(call(client(), undefined, 5000, "us-east")).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
  });

  it("refuses a plaintext client and a client that does not trust the CA", async () => {
    const { client } = await setup();
    const plain = await call(client(credentials.createInsecure()), undefined, 1500).catch((e: ServiceError) => e);
    expect(plain).toMatchObject({ code: status.UNAVAILABLE });
    const otherCa = await createCa({ commonName: "other CA" });
    const untrusted = await call(client(credentials.createSsl(Buffer.from(otherCa.certPem))), undefined, 1500).catch(
      (e: ServiceError) => e,
    );
    expect(untrusted).toMatchObject({ code: status.UNAVAILABLE });
  });
});
