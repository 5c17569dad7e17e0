import { checkFixture as check, deltaResponse as delta, snapshotResponse as snapshot } from "@probemesh/proto/testing";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createAssignmentCache } from "./assignment-cache.js";
import {
  createAssignmentClient,
  type AssignmentClient,
  type AssignmentClientOptions,
  type ChangeSource,
} from "./assignment-client.js";
import { createAssignmentSet, type AssignmentChange } from "./assignment-set.js";
import { createControlPlaneReplicas, startingReplica } from "../control-plane-replicas.js";
import { startFakeControlPlane as fakeControlPlane, type FakeAssignmentStream } from "../testing/fake-control-plane.js";

const TOKEN = "agent-tok-123";
const silent = pino({ level: "silent" });
/** The shared fake control plane, requiring this file's token. */
const startFakeControlPlane = (port: number, onWatch: (call: FakeAssignmentStream) => void) =>
  fakeControlPlane({ port, token: TOKEN, onWatch });

async function until(what: string, cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startClient(
  addr: string | string[],
  overrides: Partial<AssignmentClientOptions> = {},
  dir = mkdtempSync(join(tmpdir(), "assign-client-")),
  agentId = "agent-1",
) {
  const replicas = createControlPlaneReplicas({
    addrs: typeof addr === "string" ? [addr] : addr,
    agentId,
    log: overrides.log ?? silent,
  });
  const set = createAssignmentSet({ region: "eu-west" });
  const cache = createAssignmentCache({ dir, log: silent });
  const events: Array<{ changes: AssignmentChange[]; version: bigint; source: ChangeSource }> = [];
  const client: AssignmentClient = createAssignmentClient({
    replicas,
    token: TOKEN,
    agent: { id: agentId, region: "eu-west", provider: "test", version: "9.9.9", capabilities: ["http", "tcp"] },
    set,
    cache,
    log: silent,
    onChanges: (changes, version, source) => events.push({ changes, version, source }),
    heartbeatStats: () => ({ outboxDepth: 7, lastSeq: 42n, schedulingLagP99Ms: 3.5 }),
    backoff: { initialMs: 50, maxMs: 200 },
    ...overrides,
  });
  client.start();
  cleanups.push(
    () => replicas.close(),
    () => client.stop(),
    () => rmSync(dir, { recursive: true, force: true }),
  );
  return { client, set, cache, events, dir, replicas };
}

async function freePort(): Promise<number> {
  const s = await startFakeControlPlane(0, () => undefined);
  s.stop();
  return s.port;
}

describe("assignment client against a real grpc-js server", () => {
  it("sends its token and identity, applies the snapshot then deltas, and caches the result", async () => {
    const cp = await startFakeControlPlane(0, (call) => {
      call.write(snapshot(3n, [check("a"), check("b")]));
      setTimeout(() => call.write(delta(4n, [check("c")], ["a"])), 50);
    });
    cleanups.push(cp.stop);
    const { set, events, cache, client } = startClient(cp.addr);
    await until("version 4", () => set.version() === 4n);
    expect(cp.watches[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(cp.watches[0]?.request.knownVersion).toBe(0n);
    expect(cp.watches[0]?.request.agent).toMatchObject({
      id: "agent-1",
      region: "eu-west",
      provider: "test",
      version: "9.9.9",
      capabilities: ["http", "tcp"],
    });
    expect(events.map((e) => e.source)).toEqual(["snapshot", "delta"]);
    expect(
      set
        .checks()
        .map((c) => c.id)
        .sort(),
    ).toEqual(["b", "c"]);
    const cached = cache.load();
    expect(cached?.version).toBe(4n);
    expect(cached?.checks.map((c) => c.id).sort()).toEqual(["b", "c"]);
    expect(client.stats().connected).toBe(true);
  });

  it("takes the partition count from the snapshot and every delta, and caches it for a restart", async () => {
    const cp = await startFakeControlPlane(0, (call) => {
      call.write(snapshot(3n, [check("a")], 16));
      setTimeout(() => call.write(delta(4n, [check("b")], [], 32)), 50);
    });
    cleanups.push(cp.stop);
    const { set, cache } = startClient(cp.addr);
    await until("snapshot", () => set.version() === 3n);
    expect(set.partitions()).toBe(16);
    await until("delta", () => set.version() === 4n);
    expect(set.partitions()).toBe(32);
    expect(cache.load()?.partitions).toBe(32);
  });

  it("takes the mesh's regions from the snapshot and every delta, tells onRegions of each change, and caches them", async () => {
    const cp = await startFakeControlPlane(0, (call) => {
      call.write(snapshot(3n, [check("a")], 16, ["eu-west", "us-east"]));
      setTimeout(() => call.write(delta(4n, [check("b")], [], 16, ["eu-west", "us-east"])), 50);
      setTimeout(() => call.write(delta(4n, [], [], 16, ["ap-south", "eu-west", "us-east"])), 100);
    });
    cleanups.push(cp.stop);
    const told: Array<{ regions: readonly string[]; source: ChangeSource }> = [];
    const { set, cache, dir } = startClient(cp.addr, {
      onRegions: (regions, source) => told.push({ regions, source }),
    });
    await until("three regions", () => set.regions().length === 3);
    expect(set.regions()).toEqual(["ap-south", "eu-west", "us-east"]);
    // Told twice: the snapshot's regions, then the change; the delta that repeated them told nothing.
    expect(told).toEqual([
      { regions: ["eu-west", "us-east"], source: "snapshot" },
      { regions: ["ap-south", "eu-west", "us-east"], source: "delta" },
    ]);
    expect(cache.load()?.regions).toEqual(["ap-south", "eu-west", "us-east"]);
    // A restart without the control plane starts from the cached regions.
    const restarted: Array<readonly string[]> = [];
    const again = startClient(
      await freePort().then((p) => `127.0.0.1:${p}`),
      { onRegions: (r) => restarted.push(r) },
      dir,
    );
    await until("cached regions", () => again.set.regions().length === 3);
    expect(restarted).toEqual([["ap-south", "eu-west", "us-east"]]);
  });

  it("reconnects after the server restarts, telling it the version it has", async () => {
    let first = await startFakeControlPlane(0, (call) => call.write(snapshot(3n, [check("a"), check("b")])));
    const port = first.port;
    cleanups.push(() => first.stop());
    const { set, events, client } = startClient(first.addr);
    await until("version 3", () => set.version() === 3n);
    first.stop();
    await until("disconnected", () => !client.stats().connected);
    expect(set.checks()).toHaveLength(2); // still probing from what it had
    const second = await startFakeControlPlane(port, (call) =>
      call.write(snapshot(5n, [check("b", { version: 2 }), check("d")])),
    );
    first = second;
    await until("version 5", () => set.version() === 5n, 15_000);
    expect(second.watches[0]?.request.knownVersion).toBe(3n);
    const last = events.at(-1)!;
    expect(last.source).toBe("snapshot");
    expect(last.changes.map((c) => (c.kind === "upsert" ? `+${c.check.id}` : `-${c.checkId}`))).toEqual([
      "-a",
      "+b",
      "+d",
    ]);
    expect(client.stats().connects).toBeGreaterThanOrEqual(2);
  });

  it("starts from its cache while the control plane is down, then syncs when it appears", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "assign-client-cache-"));
    createAssignmentCache({ dir, log: silent }).save({ version: 8n, partitions: 8, checks: [check("x"), check("y")] });
    const { set, events, client } = startClient(`127.0.0.1:${port}`, {}, dir);
    expect(events[0]?.source).toBe("cache");
    // The cached count stands until a control plane answers: results keep their partitions meanwhile.
    expect(set.partitions()).toBe(8);
    expect(
      set
        .checks()
        .map((c) => c.id)
        .sort(),
    ).toEqual(["x", "y"]);
    await until("several attempts", () => client.stats().connects >= 3);
    expect(set.checks()).toHaveLength(2);
    const cp = await startFakeControlPlane(port, (call) => call.write(snapshot(9n, [check("y")])));
    cleanups.push(cp.stop);
    await until("version 9", () => set.version() === 9n, 15_000);
    expect(cp.watches[0]?.request.knownVersion).toBe(8n);
    expect(set.checks().map((c) => c.id)).toEqual(["y"]);
  });

  it("sends heartbeats with its stats at the configured interval", async () => {
    const cp = await startFakeControlPlane(0, (call) => call.write(snapshot(2n, [])));
    cleanups.push(cp.stop);
    const { client } = startClient(cp.addr, { heartbeatIntervalMs: 100 });
    await until("3 heartbeats", () => cp.heartbeats.length >= 3);
    expect(cp.heartbeats.at(-1)).toMatchObject({
      assignmentVersion: 2n,
      outboxDepth: 7,
      lastSeq: 42n,
      schedulingLagP99Ms: 3.5,
    });
    expect(cp.heartbeats.at(-1)?.agent?.id).toBe("agent-1");
    await until("ok counted", () => client.stats().heartbeatsOk >= 3);
  });

  it("reports a refused token without logging it, and keeps retrying", async () => {
    const cp = await startFakeControlPlane(0, () => undefined);
    cleanups.push(cp.stop);
    const lines: string[] = [];
    const log = pino(
      { level: "trace" },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const { client } = startClient(cp.addr, { token: "wrong-secret-value", log });
    await until("2 refusals", () => client.stats().authFailures >= 2);
    expect(lines.join("")).toContain("refused this agent's token");
    expect(lines.join("")).not.toContain("wrong-secret-value");
  });
});

/** An agent id whose starting replica, among `count`, is `index`. */
function idStartingAt(index: number, count: number): string {
  for (let i = 0; ; i++) if (startingReplica(`agent-${i}`, count) === index) return `agent-${i}`;
}

/** A replica that accepts TCP connections and never answers (a hung process: SIGSTOP, a full disk). */
async function startHungReplica(): Promise<{ addr: string; stop(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    addr: `127.0.0.1:${port}`,
    stop() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe("assignment client over several control-plane replicas", () => {
  it("starts at the replica its id picks, so that agents spread over the list", async () => {
    const [a, b] = await Promise.all([
      startFakeControlPlane(0, (call) => call.write(snapshot(3n, [check("a")]))),
      startFakeControlPlane(0, (call) => call.write(snapshot(3n, [check("a")]))),
    ]);
    cleanups.push(a.stop, b.stop);
    const ids = ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5", "agent-6"];
    const clients = ids.map((id) => ({ id, ...startClient([a.addr, b.addr], {}, undefined, id) }));
    await until("all connected", () => clients.every((c) => c.client.stats().connected));
    for (const c of clients) {
      const expected = [a, b][startingReplica(c.id, 2)]!;
      expect(c.client.stats().addr).toBe(expected.addr);
      expect(expected.watches.some((w) => w.request.agent?.id === c.id)).toBe(true);
    }
    // Both replicas got some of them, and nobody moved: there was no failure.
    expect(a.watches.length).toBeGreaterThan(0);
    expect(b.watches.length).toBeGreaterThan(0);
    expect(a.watches.length + b.watches.length).toBe(ids.length);
    expect(clients.every((c) => c.client.stats().replicaMoves === 0)).toBe(true);
  });

  it("moves to the next replica when its replica stops, keeping its assignments, and heartbeats follow", async () => {
    const [first, second] = await Promise.all([
      startFakeControlPlane(0, (call) => call.write(snapshot(3n, [check("a"), check("b")]))),
      startFakeControlPlane(0, (call) => call.write(snapshot(4n, [check("a"), check("b"), check("c")]))),
    ]);
    cleanups.push(first.stop, second.stop);
    const id = idStartingAt(0, 2);
    const { client, set, events } = startClient([first.addr, second.addr], { heartbeatIntervalMs: 100 }, undefined, id);
    await until("version 3 from the first", () => set.version() === 3n);
    expect(client.stats().addr).toBe(first.addr);
    await until("a heartbeat on the first", () => first.heartbeats.length > 0);

    first.stop();
    // Disconnected, or (on a loaded machine, between two polls) already on the second replica.
    await until("left the first", () => !client.stats().connected || client.stats().addr === second.addr);
    // Still probing what it had meanwhile: never fewer checks than before.
    expect(set.checks().length).toBeGreaterThanOrEqual(2);
    await until("version 4 from the second", () => set.version() === 4n, 10_000);
    expect(client.stats()).toMatchObject({ connected: true, addr: second.addr, replicaMoves: 1 });
    // It told the second replica what it had, and only the difference was applied.
    expect(second.watches[0]?.request.knownVersion).toBe(3n);
    expect(events.at(-1)?.changes.map((c) => (c.kind === "upsert" ? c.check.id : `-${c.checkId}`))).toEqual(["c"]);
    await until("heartbeats on the second", () => second.heartbeats.length >= 2);
  });

  it("comes back to the first replica when the second one fails in turn", async () => {
    let first = await startFakeControlPlane(0, (call) => call.write(snapshot(3n, [check("a")])));
    const port = first.port;
    const second = await startFakeControlPlane(0, (call) => call.write(snapshot(5n, [check("a")])));
    cleanups.push(() => first.stop(), second.stop);
    const { client, set } = startClient([first.addr, second.addr], {}, undefined, idStartingAt(0, 2));
    await until("version 3", () => set.version() === 3n);
    first.stop();
    await until("version 5 from the second", () => set.version() === 5n, 5000);
    first = await startFakeControlPlane(port, (call) => call.write(snapshot(7n, [check("a")])));
    second.stop();
    await until("version 7 from the first again", () => set.version() === 7n, 5000);
    expect(client.stats()).toMatchObject({ connected: true, addr: first.addr, replicaMoves: 2 });
  });

  it("leaves a replica that holds its connection but answers nothing, once a heartbeat times out", async () => {
    const hung = await startHungReplica();
    const live = await startFakeControlPlane(0, (call) => call.write(snapshot(2n, [check("a")])));
    cleanups.push(hung.stop, live.stop);
    const lines: string[] = [];
    const log = pino(
      { level: "info" },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const { client, set } = startClient(
      [hung.addr, live.addr],
      { heartbeatIntervalMs: 100, log },
      undefined,
      idStartingAt(0, 2),
    );
    // The heartbeat deadline is max(1 s, the interval).
    await until("version 2 from the live replica", () => set.version() === 2n, 5000);
    expect(client.stats()).toMatchObject({ connected: true, addr: live.addr, replicaMoves: 1 });
    const move = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.to === live.addr);
    expect(move).toMatchObject({ from: hung.addr, to: live.addr, level: 40 });
    expect(String(move?.reason)).toMatch(/^heartbeat failed \(DEADLINE_EXCEEDED/);
    expect(String(move?.msg)).toBe(`moving to control-plane replica ${live.addr}: ${String(move?.reason)}`);
  });
});
