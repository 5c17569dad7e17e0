import { create } from "@bufbuild/protobuf";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  AgentService,
  type GrpcClient,
  createGrpcClient,
  HeartbeatRequestSchema,
  WatchAssignmentsRequestSchema,
  type HeartbeatResponse,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { validateCheck } from "../checks/validate-check.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createAgentService } from "./agent-service.js";
import { startGrpcServer, type GrpcServer } from "./grpc-server.js";

const log = pino({ level: "silent" });
/** Tokens of the agents `setup()` enrolls, by agent id. */
const tokens = new Map<string, string>();

type AgentClient = GrpcClient<typeof AgentService>;

function tcp(id: string, regions: string[] = []) {
  return validateCheck(
    { id, type: "tcp", intervalMs: 1000, regions, tcp: { host: "127.0.0.1", port: 9 } },
    { mode: "create" },
  );
}

/** Metadata with the token of enrolled agent `agentOrToken`, or with `agentOrToken` itself as the token. */
function md(agentOrToken = "agent-eu-west"): Metadata {
  const m = new Metadata();
  m.set("authorization", `Bearer ${tokens.get(agentOrToken) ?? agentOrToken}`);
  return m;
}

/** Collects stream messages and lets a test wait for the n-th one. */
function collect(stream: import("@grpc/grpc-js").ClientReadableStream<WatchAssignmentsResponse>) {
  const messages: WatchAssignmentsResponse[] = [];
  let error: ServiceError | undefined;
  stream.on("data", (m: WatchAssignmentsResponse) => messages.push(m));
  stream.on("error", (e: ServiceError) => {
    error = e;
  });
  return {
    messages,
    error: () => error,
    async next(n: number, timeoutMs = 2000) {
      const start = Date.now();
      while (messages.length < n) {
        if (error && error.code !== status.CANCELLED) throw error;
        if (Date.now() - start > timeoutMs)
          throw new Error(`timed out waiting for message ${n}; got ${messages.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return messages[n - 1]!;
    },
  };
}

describe("agent gRPC service", () => {
  let server: GrpcServer | undefined;
  let client: AgentClient | undefined;

  afterEach(async () => {
    client?.close();
    await server?.close(1000);
  });

  async function setup(partitions = 16, regionsEveryMs?: number) {
    const registry = createMemoryRegistry({ log });
    const agents = createMemoryAgentDirectory();
    const enrollments = createMemoryEnrollments();
    tokens.clear();
    for (const [id, region] of [
      ["agent-eu-west", "eu-west"],
      ["agent-us-east", "us-east"],
      ["http-only", "eu-west"],
      ["a1", "eu-west"],
    ] as const)
      tokens.set(id, (await enrollments.enroll({ id, region, provider: "test" })).token);
    const service = createAgentService({
      registry,
      agents,
      enrollments,
      log,
      partitions,
      ...(regionsEveryMs !== undefined ? { regionsEveryMs } : {}),
    });
    server = await startGrpcServer({ addr: "127.0.0.1:0", service, log });
    client = createGrpcClient(AgentService, `127.0.0.1:${server.port}`, credentials.createInsecure());
    return { registry, agents, enrollments, service, client };
  }

  const watchReq = (region: string, id = `agent-${region}`) =>
    create(WatchAssignmentsRequestSchema, {
      agent: { id, region, provider: "test", version: "0.0.1", capabilities: ["tcp"] },
    });

  it("sends the region's snapshot, then deltas for upserts, moves and deletes", async () => {
    const { registry, agents, service, client } = await setup();
    await registry.create(tcp("all"));
    await registry.create(tcp("eu", ["eu-west"]));
    await registry.create(tcp("us", ["us-east"]));
    const s = collect(client.watchAssignments(watchReq("eu-west"), md()));
    const snap = await s.next(1);
    expect(snap.event.case).toBe("snapshot");
    if (snap.event.case !== "snapshot") throw new Error("no snapshot");
    expect(snap.event.value.checks.map((c) => c.id)).toEqual(["all", "eu"]);
    expect(snap.event.value.version).toBe(3n);

    await registry.create(tcp("late", ["eu-west"]));
    const d1 = await s.next(2);
    expect(d1.event.case === "delta" && d1.event.value.upserted.map((c) => [c.id, c.version])).toEqual([["late", 1]]);

    await registry.create(tcp("us2", ["us-east"])); // not ours: no message
    await registry.replace(tcp("eu", ["us-east"])); // moved away: removed
    const d2 = await s.next(3);
    expect(d2.event.case === "delta" && d2.event.value.removed).toEqual(["eu"]);
    expect(d2.event.case === "delta" && d2.event.value.version).toBe(6n);

    await registry.delete("all");
    const d3 = await s.next(4);
    expect(d3.event.case === "delta" && d3.event.value.removed).toEqual(["all"]);
    expect(s.messages).toHaveLength(4);

    expect(service.stats()).toMatchObject({ openStreams: 1, snapshotsSent: 1, deltasSent: 3 });
    const listed = await agents.list();
    expect(listed).toMatchObject([{ id: "agent-eu-west", region: "eu-west", connected: true, assignmentVersion: 3 }]);
  });

  it("announces the mesh's partition count in the snapshot and in every delta", async () => {
    const { registry, client } = await setup(64);
    await registry.create(tcp("first"));
    const s = collect(client.watchAssignments(watchReq("eu-west"), md()));
    const snap = await s.next(1);
    expect(snap.event.case === "snapshot" && snap.event.value.partitions).toBe(64);
    await registry.create(tcp("second"));
    await registry.delete("first");
    const upsert = await s.next(2);
    const removal = await s.next(3);
    expect(upsert.event.case === "delta" && upsert.event.value.partitions).toBe(64);
    expect(removal.event.case === "delta" && [removal.event.value.removed, removal.event.value.partitions]).toEqual([
      ["first"],
      64,
    ]);
  });

  it("announces the enrolled agents' regions, sorted, and tells open streams when they change", async () => {
    const { registry, enrollments, client, service } = await setup(16, 50);
    await registry.create(tcp("first"));
    const s = collect(client.watchAssignments(watchReq("eu-west"), md()));
    const snap = await s.next(1);
    expect(snap.event.case === "snapshot" && snap.event.value.regions).toEqual(["eu-west", "us-east"]);
    await registry.create(tcp("second"));
    const upsert = await s.next(2);
    expect(upsert.event.case === "delta" && upsert.event.value.regions).toEqual(["eu-west", "us-east"]);
    // An agent enrolled in a new region: a delta without checks names the regions now.
    await enrollments.enroll({ id: "agent-ap-south", region: "ap-south", provider: "test" });
    const changed = await s.next(3);
    expect(changed.event.case).toBe("delta");
    if (changed.event.case !== "delta") throw new Error("no delta");
    expect(changed.event.value).toMatchObject({
      upserted: [],
      removed: [],
      regions: ["ap-south", "eu-west", "us-east"],
    });
    // The last agent of a region revoked: the region goes.
    await enrollments.revoke("agent-us-east");
    const gone = await s.next(4);
    expect(gone.event.case === "delta" && gone.event.value.regions).toEqual(["ap-south", "eu-west"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.messages).toHaveLength(4);
    expect(service.stats().deltasSent).toBe(3);
    service.close();
  });

  it("gives an agent enrolled a moment ago its own region in its snapshot, and tells the others", async () => {
    const { enrollments, client, service } = await setup(16, 60_000);
    const s = collect(client.watchAssignments(watchReq("eu-west"), md()));
    await s.next(1);
    tokens.set(
      "agent-ap-south",
      (await enrollments.enroll({ id: "agent-ap-south", region: "ap-south", provider: "test" })).token,
    );
    const fresh = collect(client.watchAssignments(watchReq("ap-south"), md("agent-ap-south")));
    const snap = await fresh.next(1);
    expect(snap.event.case === "snapshot" && snap.event.value.regions).toEqual(["ap-south", "eu-west", "us-east"]);
    const told = await s.next(2);
    expect(told.event.case === "delta" && told.event.value.regions).toEqual(["ap-south", "eu-west", "us-east"]);
    service.close();
  });

  it.each([0, 1025, 2.5])("refuses to start with %s partitions", (partitions) => {
    expect(() =>
      createAgentService({
        registry: createMemoryRegistry({ log }),
        agents: createMemoryAgentDirectory(),
        enrollments: createMemoryEnrollments(),
        log,
        partitions,
      }),
    ).toThrow(/partitions must be an integer in 1\.\.1024/);
  });

  it("sends an agent only the checks its capabilities cover, now and in later deltas", async () => {
    const { registry, client } = await setup();
    await registry.create(tcp("t"));
    await registry.create(
      validateCheck({ id: "h", type: "http", http: { url: "https://example.com" } }, { mode: "create" }),
    );
    const req = create(WatchAssignmentsRequestSchema, {
      agent: { id: "http-only", region: "eu-west", provider: "test", version: "0.0.1", capabilities: ["http"] },
    });
    const s = collect(client.watchAssignments(req, md("http-only")));
    const snap = await s.next(1);
    expect(snap.event.case === "snapshot" && snap.event.value.checks.map((c) => c.id)).toEqual(["h"]);

    await registry.create(tcp("t2")); // a type it cannot run: no message
    await registry.create(
      validateCheck({ id: "h2", type: "http", http: { url: "https://example.com" } }, { mode: "create" }),
    );
    const d = await s.next(2);
    expect(d.event.case === "delta" && d.event.value.upserted.map((c) => c.id)).toEqual(["h2"]);
    expect(s.messages).toHaveLength(2);
  });

  it("rejects a wrong or missing token with UNAUTHENTICATED and counts it", async () => {
    const { service, client } = await setup();
    const s = collect(client.watchAssignments(watchReq("eu-west"), md("wrong")));
    await expect(s.next(1)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    const err = await new Promise<ServiceError | null>((resolve) =>
      client.heartbeat(create(HeartbeatRequestSchema, {}), new Metadata(), (e) => resolve(e)),
    );
    expect(err?.code).toBe(status.UNAUTHENTICATED);
    expect(err?.details).not.toContain("wrong");
    expect(service.stats().unauthenticated).toBe(2);
  });

  it("refuses an AgentInfo whose region or id differs from the token's enrollment, with a clear message", async () => {
    const { registry, service, client } = await setup();
    await registry.create(tcp("us", ["us-east"]));
    // agent-eu-west's token, claiming us-east: it would receive (and vote on) another region's checks.
    const s = collect(client.watchAssignments(watchReq("us-east", "agent-eu-west"), md("agent-eu-west")));
    await expect(s.next(1)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    expect(s.error()?.details).toMatch(/enrolled as id "agent-eu-west" in region "eu-west".*claims.*"us-east"/);
    expect(s.messages).toHaveLength(0);
    // agent-eu-west's token, claiming to be another agent of the same region.
    const other = collect(client.watchAssignments(watchReq("eu-west", "agent-eu-2"), md("agent-eu-west")));
    await expect(other.next(1)).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    const hb = await new Promise<ServiceError | null>((resolve) =>
      client.heartbeat(
        create(HeartbeatRequestSchema, {
          agent: { id: "agent-eu-west", region: "us-east", provider: "p", version: "1" },
        }),
        md("agent-eu-west"),
        (e) => resolve(e),
      ),
    );
    expect(hb?.code).toBe(status.PERMISSION_DENIED);
    expect(service.stats()).toMatchObject({ permissionDenied: 3, openStreams: 0 });
  });

  it("ends a revoked agent's stream with PERMISSION_DENIED and refuses its later calls", async () => {
    const { enrollments, service, client } = await setup();
    const mine = collect(client.watchAssignments(watchReq("eu-west"), md("agent-eu-west")));
    const others = collect(client.watchAssignments(watchReq("us-east"), md("agent-us-east")));
    await mine.next(1);
    await others.next(1);
    expect(await enrollments.revoke("agent-eu-west")).toBe(true);
    const start = Date.now();
    while (!mine.error() && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(mine.error()).toMatchObject({ code: status.PERMISSION_DENIED, details: "agent revoked" });
    expect(others.error()).toBeUndefined();
    expect(service.stats()).toMatchObject({ openStreams: 1, revokedStreams: 1 });
    const hb = await new Promise<ServiceError | null>((resolve) =>
      client.heartbeat(
        create(HeartbeatRequestSchema, {
          agent: { id: "agent-eu-west", region: "eu-west", provider: "p", version: "1" },
        }),
        md("agent-eu-west"),
        (e) => resolve(e),
      ),
    );
    expect(hb?.code).toBe(status.UNAUTHENTICATED);
    const again = collect(client.watchAssignments(watchReq("eu-west"), md("agent-eu-west")));
    await expect(again.next(1)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("rejects an invalid AgentInfo with INVALID_ARGUMENT", async () => {
    const { service, client } = await setup();
    const s = collect(client.watchAssignments(watchReq("eu.west"), md()));
    await expect(s.next(1)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(s.error()?.details).toMatch(/agent\.region/);
    expect(service.stats().invalidArgument).toBe(1);
  });

  it("records heartbeats and answers with the server time", async () => {
    const { agents, client } = await setup();
    const before = Date.now();
    const res = await new Promise<HeartbeatResponse>((resolve, reject) =>
      client.heartbeat(
        create(HeartbeatRequestSchema, {
          agent: { id: "a1", region: "eu-west", provider: "p", version: "1" },
          assignmentVersion: 4n,
          outboxDepth: 2,
          lastSeq: 99n,
        }),
        md("a1"),
        (e, r) => (e ? reject(e) : resolve(r!)),
      ),
    );
    expect(Number(res.serverTimeMs)).toBeGreaterThanOrEqual(before);
    await new Promise((r) => setTimeout(r, 20));
    expect(await agents.list()).toMatchObject([
      { id: "a1", connected: false, assignmentVersion: 4, outboxDepth: 2, lastSeq: 99 },
    ]);
  });

  it("marks the agent disconnected when it cancels, and stops sending to it", async () => {
    const { registry, agents, service, client } = await setup();
    const call = client.watchAssignments(watchReq("eu-west"), md());
    const s = collect(call);
    await s.next(1);
    call.cancel();
    const start = Date.now();
    while (service.stats().openStreams > 0 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(service.stats().openStreams).toBe(0);
    await registry.create(tcp("after"));
    expect((await agents.list())[0]?.connected).toBe(false);
  });

  it("ends open streams with UNAVAILABLE on shutdown", async () => {
    const { client } = await setup();
    const s = collect(client.watchAssignments(watchReq("eu-west"), md()));
    await s.next(1);
    await server?.close(1000);
    server = undefined;
    const start = Date.now();
    while (!s.error() && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(s.error()?.code).toBe(status.UNAVAILABLE);
  });
});
