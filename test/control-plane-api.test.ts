// The control plane's check registry, agent gRPC service and HTTP API in-process, on a real
// nats-server: checks written through the API reach agents over gRPC as a snapshot, then deltas;
// two replicas share one registry; presence is visible from any replica; enrollments and API tokens
// made on one replica are honoured, and revoked, on the other.
import { create } from "@bufbuild/protobuf";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AgentService,
  type GrpcClient,
  createGrpcClient,
  HeartbeatRequestSchema,
  WatchAssignmentsRequestSchema,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import {
  type ApiServer,
  ConflictError,
  createAgentDirectory,
  createAgentService,
  createApi,
  createKvApiTokens,
  createKvEnrollments,
  createRegistry,
  type ApiTokens,
  type EnrollmentStore,
  createSecretBox,
  type GrpcServer,
  type NatsAgentDirectory,
  type NatsRegistry,
  type ResultRow,
  type ResultStore,
  startApiServer,
  startGrpcServer,
  parseKeyRing,
  validateCheck,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNats, type NatsServer } from "./harness/nats.js";
import { SECRET_KEY } from "./harness/mesh.js";
import { waitFor } from "./harness/process.js";

const API_TOKEN = "cp-api-test-token";
/** Tokens of the agents enrolled in `beforeAll`, by agent id. */
const tokens = new Map<string, string>();
const log = pino({ level: process.env.PROBEMESH_TEST_LOG_LEVEL ?? "silent" });

type AgentClient = GrpcClient<typeof AgentService>;

/** One in-process control-plane replica: registry, presence, gRPC and HTTP on free ports. */
interface Replica {
  nc: NatsConnection;
  registry: NatsRegistry;
  agents: NatsAgentDirectory;
  enrollments: EnrollmentStore;
  apiTokens: ApiTokens;
  grpc: GrpcServer;
  http: ApiServer;
  api: string;
  client: AgentClient;
  stop(): Promise<void>;
}

const results: ResultRow[] = [];
const store: ResultStore = {
  async insertResults(rows) {
    results.push(...rows);
  },
  async queryResults(q) {
    return results
      .filter(
        (r) =>
          r.checkId === q.checkId &&
          r.startedAt >= q.from &&
          r.startedAt < q.to &&
          (!q.region || r.region === q.region),
      )
      .sort((a, b) => b.startedAt - a.startedAt)
      .slice(0, q.limit);
  },
  async ping() {
    return true;
  },
};

async function startReplica(natsUrl: string, name: string): Promise<Replica> {
  const nc = await connect({ servers: natsUrl, name });
  const registry = createRegistry({ nc, log, secrets: createSecretBox(parseKeyRing(SECRET_KEY).ring) });
  await registry.start();
  const agents = createAgentDirectory({ nc, log, replicaId: name, refreshIntervalMs: 500 });
  await agents.start();
  const enrollments = createKvEnrollments({ nc, log });
  await enrollments.start();
  const apiTokens = createKvApiTokens({ nc, log });
  await apiTokens.start();
  const service = createAgentService({ registry, agents, enrollments, log, partitions: 16 });
  const grpc = await startGrpcServer({ addr: "127.0.0.1:0", service, log });
  const app = createApi({
    config: { apiToken: API_TOKEN },
    registry,
    store,
    agents,
    enrollments,
    apiTokens,
    ready: async () => ({ nats: !nc.isClosed() && registry.ready(), clickhouse: await store.ping(), migrations: true }),
    log,
  });
  const http = await startApiServer({ addr: "127.0.0.1:0", app, log });
  const client = createGrpcClient(AgentService, `127.0.0.1:${grpc.port}`, credentials.createInsecure());
  return {
    nc,
    registry,
    agents,
    enrollments,
    apiTokens,
    grpc,
    http,
    api: `http://127.0.0.1:${http.port}`,
    client,
    async stop() {
      client.close();
      await grpc.close(1000);
      await http.close();
      await agents.stop();
      await enrollments.stop();
      await apiTokens.stop();
      await registry.stop();
      await nc.close();
    },
  };
}

/** Metadata with the token of enrolled agent `agentOrToken`, or with `agentOrToken` itself as the token. */
function md(agentOrToken: string): Metadata {
  const m = new Metadata();
  m.set("authorization", `Bearer ${tokens.get(agentOrToken) ?? agentOrToken}`);
  return m;
}

/** An agent's assignment stream, recording each message with its arrival time. */
function watch(client: AgentClient, id: string, region: string, token = tokens.get(id) ?? "pma_unenrolled") {
  const call = client.watchAssignments(
    create(WatchAssignmentsRequestSchema, {
      agent: { id, region, provider: "test", version: "0.0.0-test", capabilities: ["http", "tcp"] },
    }),
    md(token),
  );
  const got: { at: number; msg: WatchAssignmentsResponse }[] = [];
  let error: ServiceError | undefined;
  call.on("data", (msg: WatchAssignmentsResponse) => got.push({ at: Date.now(), msg }));
  call.on("error", (e: ServiceError) => {
    error = e;
  });
  return {
    call,
    got,
    error: () => error,
    /** The n-th message (1-based), waiting up to `timeoutMs`. */
    async nth(n: number, timeoutMs = 3000) {
      return await waitFor(
        `message ${n} on ${id}'s stream`,
        () => {
          if (error) throw error;
          return got[n - 1];
        },
        timeoutMs,
        5,
      );
    },
  };
}

function snapshotOf(m: WatchAssignmentsResponse) {
  if (m.event.case !== "snapshot") throw new Error(`expected a snapshot, got ${m.event.case}`);
  return m.event.value;
}
function deltaOf(m: WatchAssignmentsResponse) {
  if (m.event.case !== "delta") throw new Error(`expected a delta, got ${m.event.case}`);
  return m.event.value;
}

async function api(r: Replica, method: string, path: string, body?: unknown, token: string | null = API_TOKEN) {
  const res = await fetch(`${r.api}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

describe("control plane: registry, agent gRPC service and API on real NATS", () => {
  let nats: NatsServer;
  let a: Replica;
  let b: Replica;

  beforeAll(async () => {
    nats = await startNats();
    a = await startReplica(nats.url, "replica-a");
    b = await startReplica(nats.url, "replica-b");
    // Enrolled through replica a's API; replica b's agent service knows them through the KV watch.
    for (const [id, region] of [
      ["agent-eu", "eu-west"],
      ["agent-ap", "ap-south"],
      ["agent-b", "us-east"],
      ["agent-eu2", "eu-west"],
      ["agent-verdicts", "eu-west"],
      ["agent-http", "sa-east"],
      ["agent-tcp", "sa-east"],
      ["agent-restart", "us-east"],
    ]) {
      const res = await api(a, "POST", "/v1/agents", { id, region, provider: "test" });
      expect(res.status).toBe(201);
      tokens.set(id!, (res.json as { token: string }).token);
    }
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await nats?.dispose();
  });

  it("serves healthz and readyz", async () => {
    expect(await api(a, "GET", "/healthz", undefined, null)).toEqual({ status: 200, json: { status: "ok" } });
    const ready = await api(a, "GET", "/readyz", undefined, null);
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: "ready", nats: true });
  });

  it("delivers a check created through the API as a snapshot, then a delta within 1 s of a PUT, then a removal after DELETE", async () => {
    const web = {
      id: "web",
      type: "http",
      intervalMs: 1000,
      timeoutMs: 800,
      regions: ["eu-west", "us-east"],
      http: { url: "http://127.0.0.1:8081/", method: "GET", expectStatus: [200] },
    };
    const created = await api(a, "POST", "/v1/checks", web);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: "web", version: 1, http: { expectStatus: [200] } });

    const eu = watch(a.client, "agent-eu", "eu-west");
    const ap = watch(a.client, "agent-ap", "ap-south");
    const euSnap = snapshotOf((await eu.nth(1)).msg);
    expect(euSnap.checks.map((c) => [c.id, c.version, c.http?.url])).toEqual([["web", 1, "http://127.0.0.1:8081/"]]);
    expect(euSnap.version).toBeGreaterThan(0n);
    // Region filtering: ap-south is not in the check's regions.
    expect(snapshotOf((await ap.nth(1)).msg).checks).toEqual([]);

    const putAt = Date.now();
    const replaced = await api(a, "PUT", "/v1/checks/web", { ...web, intervalMs: 2000 });
    expect(replaced.status).toBe(200);
    const d1 = await eu.nth(2, 1000);
    expect(d1.at - putAt).toBeLessThan(1000);
    const delta1 = deltaOf(d1.msg);
    expect(delta1.upserted.map((c) => [c.id, c.version, c.intervalMs])).toEqual([["web", 2, 2000]]);
    expect(delta1.version).toBeGreaterThan(euSnap.version);

    // Moved out of eu-west: eu gets a removal; ap-south still hears nothing.
    await api(a, "PUT", "/v1/checks/web", { ...web, regions: ["us-east"] });
    expect(deltaOf((await eu.nth(3, 1000)).msg).removed).toEqual(["web"]);

    // Back in eu-west, then deleted: the removal arrives within a second.
    await api(a, "PUT", "/v1/checks/web", web);
    expect(deltaOf((await eu.nth(4, 1000)).msg).upserted.map((c) => c.version)).toEqual([4]);
    const delAt = Date.now();
    expect((await api(a, "DELETE", "/v1/checks/web")).status).toBe(204);
    const removal = await eu.nth(5, 1000);
    expect(removal.at - delAt).toBeLessThan(1000);
    expect(deltaOf(removal.msg).removed).toEqual(["web"]);
    expect((await api(a, "GET", "/v1/checks/web")).status).toBe(404);

    await new Promise((r) => setTimeout(r, 200));
    expect(ap.got).toHaveLength(1);
    // Versions only grow along the stream.
    const versions = eu.got.map((g) => (g.msg.event.case ? g.msg.event.value.version : 0n));
    expect([...versions].sort((x, y) => (x < y ? -1 : 1))).toEqual(versions);
    eu.call.cancel();
    ap.call.cancel();
  });

  it("rejects a wrong agent token with UNAUTHENTICATED", async () => {
    const bad = watch(a.client, "agent-x", "eu-west", "not-the-token");
    const err = await waitFor("the stream to fail", () => bad.error(), 3000, 5);
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(bad.got).toEqual([]);
    const hb = await new Promise<ServiceError | null>((resolve) =>
      a.client.heartbeat(create(HeartbeatRequestSchema, { agent: { id: "x", region: "eu-west" } }), md("nope"), (e) =>
        resolve(e),
      ),
    );
    expect(hb?.code).toBe(status.UNAUTHENTICATED);
  });

  it("shares checks between replicas: writes on one reach agents on the other, ids conflict across them", async () => {
    const db = { id: "db", type: "tcp", intervalMs: 5000, timeoutMs: 1000, tcp: { host: "127.0.0.1", port: 5432 } };
    const onB = watch(b.client, "agent-b", "us-east");
    const start = snapshotOf((await onB.nth(1)).msg);
    expect(start.checks.map((c) => c.id)).not.toContain("db");

    const writeAt = Date.now();
    expect((await api(a, "POST", "/v1/checks", db)).status).toBe(201);
    const d = await onB.nth(2, 1000);
    expect(d.at - writeAt).toBeLessThan(1000);
    expect(deltaOf(d.msg).upserted.map((c) => c.id)).toEqual(["db"]);

    expect((await api(b, "POST", "/v1/checks", db)).status).toBe(409);
    expect((await api(b, "GET", "/v1/checks/db")).json).toMatchObject({ id: "db", version: 1 });
    const list = (await api(b, "GET", "/v1/checks")).json as { id: string }[];
    expect(list.map((c) => c.id)).toContain("db");
    onB.call.cancel();
  });

  it("keeps versions consistent under concurrent replaces from two replicas", async () => {
    const base = { id: "race", type: "tcp", tcp: { host: "127.0.0.1", port: 1 } };
    await a.registry.create(validateCheck(base, { mode: "create" }));
    const writes = Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? a : b).registry.replace(
        validateCheck({ ...base, tcp: { host: "127.0.0.1", port: i + 2 } }, { mode: "create" }),
      ),
    );
    const records = await Promise.all(writes);
    expect(records.map((r) => r.check.version).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    await expect(a.registry.create(validateCheck(base, { mode: "create" }))).rejects.toBeInstanceOf(ConflictError);
    expect((await b.registry.get("race"))?.check.version).toBe(11);
  });

  it("a new replica loads the stored checks at start (the registry lives in NATS, not in a process)", async () => {
    const c = await startReplica(nats.url, "replica-c");
    try {
      const ids = (await c.registry.list()).map((r) => r.check.id);
      expect(ids).toEqual(expect.arrayContaining(["db", "race"]));
      expect(ids).not.toContain("web");
    } finally {
      await c.stop();
    }
  });

  it("shows agents from any replica: connected while streaming, not after the stream ends", async () => {
    const s = watch(a.client, "agent-eu2", "eu-west");
    await s.nth(1);
    const hb = await new Promise<ServiceError | null>((resolve) =>
      a.client.heartbeat(
        create(HeartbeatRequestSchema, {
          agent: { id: "agent-eu2", region: "eu-west", provider: "test", version: "0.0.0-test" },
          outboxDepth: 3,
          lastSeq: 17n,
        }),
        md("agent-eu2"),
        (e) => resolve(e),
      ),
    );
    expect(hb).toBeNull();
    const seen = await waitFor("agent-eu2 connected with heartbeat stats, seen from replica b", async () => {
      const list = (await api(b, "GET", "/v1/agents")).json as Record<string, unknown>[];
      const me = list.find((x) => x.id === "agent-eu2");
      return me?.connected === true && me.lastSeq === 17 ? me : undefined;
    });
    expect(seen).toMatchObject({ region: "eu-west", provider: "test", version: "0.0.0-test", outboxDepth: 3 });
    expect(typeof seen.lastSeenAt).toBe("number");
    expect(typeof seen.connectedAt).toBe("number");

    s.call.cancel();
    await waitFor("agent-eu2 disconnected", async () => {
      const list = (await api(b, "GET", "/v1/agents")).json as Record<string, unknown>[];
      return list.find((x) => x.id === "agent-eu2")?.connected === false;
    });
  });

  it("API writes need the token; bad input is a 400 naming the field", async () => {
    const check = { id: "nope", type: "tcp", tcp: { host: "127.0.0.1", port: 1 } };
    const noToken = await api(a, "POST", "/v1/checks", check, null);
    expect(noToken.status).toBe(401);
    expect(noToken.json).toMatchObject({ error: { code: "unauthenticated" } });
    const bad = await api(a, "POST", "/v1/checks", { ...check, tcp: { host: "127.0.0.1", port: 70000 } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { code: "invalid_argument", details: { field: "tcp.port" } } });
    expect((await api(a, "GET", "/v1/checks/nope")).status).toBe(404);
  });

  it("refuses a quorum that can never decide, warns on a region no agent knows, refuses a type change", async () => {
    const eu = watch(a.client, "agent-verdicts", "eu-west");
    await eu.nth(1);
    // Presence is shared through NATS: replica b knows the region once the stream opened on a.
    await waitFor("eu-west known to replica b", async () => {
      const list = (await api(b, "GET", "/v1/agents")).json as { region: string }[];
      return list.some((x) => x.region === "eu-west");
    });
    const check = { id: "verdict", type: "tcp", regions: ["eu-west"], tcp: { host: "127.0.0.1", port: 1 } };

    const never = await api(b, "POST", "/v1/checks", { ...check, quorum: 2 });
    expect(never.status).toBe(400);
    expect(never.json).toMatchObject({ error: { code: "invalid_argument", details: { field: "quorum" } } });
    expect((await api(b, "GET", "/v1/checks/verdict")).status).toBe(404);

    const typo = await api(b, "POST", "/v1/checks", { ...check, regions: ["eu-west", "eu-wset"] });
    expect(typo.status).toBe(201);
    expect(typo.json).toMatchObject({
      id: "verdict",
      warnings: [
        { field: "regions[1]", message: 'no agent has registered for region "eu-wset"; did you mean "eu-west"?' },
      ],
    });
    const fixed = await api(b, "PUT", "/v1/checks/verdict", check);
    expect(fixed.status).toBe(200);
    expect(fixed.json).not.toHaveProperty("warnings");

    const retyped = await api(a, "PUT", "/v1/checks/verdict", {
      type: "http",
      http: { url: "http://127.0.0.1:8081/" },
    });
    expect(retyped.status).toBe(400);
    expect(retyped.json).toMatchObject({ error: { details: { field: "type" } } });
    // The registry refuses it too, atomically with its write, whoever calls it.
    await expect(
      a.registry.replace(
        validateCheck({ id: "verdict", type: "http", http: { url: "http://x/" } }, { mode: "create" }),
      ),
    ).rejects.toMatchObject({ name: "ValidationError", details: { field: "type" } });
    expect((await api(b, "GET", "/v1/checks/verdict")).json).toMatchObject({ type: "tcp", version: 2 });
    expect((await api(a, "DELETE", "/v1/checks/verdict")).status).toBe(204);
    eu.call.cancel();
  });

  it("assigns a check only to agents whose capabilities cover its type", async () => {
    const check = { id: "tcp-only", type: "tcp", regions: ["sa-east"], tcp: { host: "127.0.0.1", port: 1 } };
    const call = a.client.watchAssignments(
      create(WatchAssignmentsRequestSchema, {
        agent: { id: "agent-http", region: "sa-east", provider: "test", version: "0.0.0-test", capabilities: ["http"] },
      }),
      md("agent-http"),
    );
    const got: WatchAssignmentsResponse[] = [];
    call.on("data", (m: WatchAssignmentsResponse) => got.push(m));
    call.on("error", () => {});
    await waitFor("the snapshot", () => got[0]);
    // sa-east is known now, but no agent there can run tcp: the API says so, and the agent gets nothing.
    const created = await api(b, "POST", "/v1/checks", check);
    expect(created.json).toMatchObject({
      warnings: [
        {
          field: "regions[0]",
          message: 'no agent in region "sa-east" can run tcp checks; the region abstains until one can',
        },
      ],
    });
    const tcpAgent = watch(a.client, "agent-tcp", "sa-east");
    expect(snapshotOf((await tcpAgent.nth(1)).msg).checks.map((c) => c.id)).toContain("tcp-only");
    // Neither this check nor the earlier tcp checks of every region ("db", "race") reached the http agent.
    expect(got.map((m) => m.event.case)).toEqual(["snapshot"]);
    expect(snapshotOf(got[0]!).checks).toEqual([]);
    expect((await api(a, "DELETE", "/v1/checks/tcp-only")).status).toBe(204);
    call.cancel();
    tcpAgent.call.cancel();
  });

  it("enrollments and API tokens made on one replica hold on the other, and so do revocations", async () => {
    // Enrolled on b, streaming on a; refused a region it was not enrolled for.
    const enrolled = await api(b, "POST", "/v1/agents", { id: "agent-revoked", region: "eu-west", provider: "x" });
    expect(enrolled).toMatchObject({ status: 201, json: { id: "agent-revoked", region: "eu-west", revokedAt: null } });
    tokens.set("agent-revoked", (enrolled.json as { token: string }).token);
    expect((enrolled.json as { token: string }).token).toMatch(/^pma_[A-Za-z0-9_-]{43}$/);
    expect((await api(a, "POST", "/v1/agents", { id: "agent-revoked", region: "us-east" })).status).toBe(409);
    const s = await waitFor("agent-revoked's stream on replica a", async () => {
      const w = watch(a.client, "agent-revoked", "eu-west");
      return (await w.nth(1).catch(() => undefined)) ? w : undefined;
    });
    const elsewhere = watch(a.client, "agent-revoked", "us-east");
    expect(await waitFor("refused", () => elsewhere.error())).toMatchObject({ code: status.PERMISSION_DENIED });
    // Revoked on b: the stream on a ends, the token is refused from then on, the id cannot return.
    expect((await api(b, "DELETE", "/v1/agents/agent-revoked")).status).toBe(204);
    await waitFor("the stream ended", () => s.error());
    expect(s.error()).toMatchObject({ code: status.PERMISSION_DENIED, details: "agent revoked" });
    const again = watch(a.client, "agent-revoked", "eu-west");
    expect(await waitFor("refused", () => again.error())).toMatchObject({ code: status.UNAUTHENTICATED });
    expect((await api(a, "GET", "/v1/agents/agent-revoked")).json).toMatchObject({ connected: false });
    expect((await api(a, "GET", "/v1/agents/agent-revoked")).json).not.toMatchObject({ revokedAt: null });
    expect((await api(a, "POST", "/v1/agents", { id: "agent-revoked", region: "eu-west" })).status).toBe(409);

    // An API token made on a works on b with its scope; revoked on b, a refuses it.
    const made = await api(a, "POST", "/v1/tokens", { name: "dashboard", scopes: ["read"] });
    expect(made.status).toBe(201);
    const { id, token } = made.json as { id: string; token: string };
    expect(token).toMatch(/^pmt_/);
    await waitFor(
      "b knows the token",
      async () => (await api(b, "GET", "/v1/checks", undefined, token)).status === 200,
    );
    expect((await api(b, "POST", "/v1/checks", { id: "x" }, token)).status).toBe(403);
    const listed = (await api(b, "GET", "/v1/tokens")).json as Record<string, unknown>[];
    expect(listed.find((t) => t.id === id)).toEqual({
      id,
      name: "dashboard",
      scopes: ["read"],
      createdAt: expect.any(Number),
    });
    expect(JSON.stringify(listed)).not.toContain(token);
    expect((await api(b, "DELETE", `/v1/tokens/${id}`)).status).toBe(204);
    await waitFor(
      "a refuses the revoked token",
      async () => (await api(a, "GET", "/v1/checks", undefined, token)).status === 401,
    );
    expect((await api(a, "GET", `/v1/tokens/${id}`)).status).toBe(404);
  });

  it("survives a NATS restart: agents stay assigned and later writes still reach them", async () => {
    const onA = watch(a.client, "agent-restart", "us-east");
    await onA.nth(1);
    await nats.restart();
    // Writes fail fast or succeed once the client has reconnected; retry until one lands.
    const check = { id: "after-restart", type: "tcp", tcp: { host: "127.0.0.1", port: 2 } };
    await waitFor(
      "a write through replica b after the restart",
      async () => {
        const res = await api(b, "POST", "/v1/checks", check).catch(() => undefined);
        return res?.status === 201 || res?.status === 409 ? res : undefined;
      },
      30_000,
      250,
    );
    const delta = await waitFor(
      "the delta on replica a's stream",
      () =>
        onA.got
          .map((g) => g.msg)
          .find((m) => m.event.case === "delta" && m.event.value.upserted.some((c) => c.id === "after-restart")),
      15_000,
      20,
    );
    expect(delta.event.case).toBe("delta");
    expect(onA.error()).toBeUndefined();
    expect((await api(a, "GET", "/v1/checks/after-restart")).status).toBe(200);
    onA.call.cancel();
  });

  it("serves a check's results from the store", async () => {
    const now = Date.now();
    await store.insertResults([
      {
        id: "r1",
        checkId: "db",
        checkVersion: 1,
        agentId: "agent-b",
        region: "us-east",
        provider: "test",
        startedAt: now - 1000,
        durationMs: 3,
        state: "up",
        reason: "",
        message: "",
        phases: { dnsMs: 0, connectMs: 1, tlsMs: 0, ttfbMs: 0, transferMs: 0 },
        seq: 1,
        attempts: 1,
        target: "127.0.0.1:5432",
        canary: false,
        lagMs: 0,
        httpStatus: 0,
        bodyBytes: 0,
        details: {},
      },
    ]);
    const res = await api(a, "GET", "/v1/checks/db/results?region=us-east&limit=10");
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject([{ id: "r1", checkId: "db", region: "us-east", state: "up" }]);
    expect((await api(a, "GET", "/v1/checks/missing/results")).status).toBe(404);
  });
});
