import { checkFixture as check, deltaResponse as delta, snapshotResponse as snapshot } from "@probemesh/proto/testing";
import { mkdtempSync, rmSync } from "node:fs";
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
import { createControlPlaneReplicas } from "../control-plane-replicas.js";
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
    createAssignmentCache({ dir, log: silent }).save({ version: 8n, checks: [check("x"), check("y")] });
    const { set, events, client } = startClient(`127.0.0.1:${port}`, {}, dir);
    expect(events[0]?.source).toBe("cache");
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
