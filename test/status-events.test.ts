// GET /v1/status and GET /v1/events as a dashboard uses them, on a secure mesh of two replicas (HTTPS,
// tokens, operator-mode NATS): every check's verdict from either replica whatever partitions it owns,
// a target's flip seen live on the replica that does not decide it, a resume that gets exactly what
// was missed, and a client too slow to read cut off while another keeps receiving.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { jetstream } from "@nats-io/jetstream";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  allStatuses,
  forwardedStatuses,
  serveStatus,
  type CheckStatus,
  type PartitionLeases,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startMesh, waitFor, type ControlPlane, type Mesh } from "./harness/mesh.js";
import { freePort } from "./harness/ports.js";
import { startProcess, waitForPort, type Managed } from "./harness/process.js";
import { openEvents as openSse, type SseClient, type SseEvent } from "./harness/sse.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";

const REGIONS = ["eu-west", "us-east"] as const;
/**
 * Events a client may have waiting on the control plane before it is cut off
 * (PROBEMESH_EVENTS_CLIENT_BUFFER). The burst below is 4000 events of ~4 KB: at 500, a reading client
 * on a loaded box fell 2 MB behind for a moment and was cut off too; 1500 (6 MB) plus the socket
 * buffers still cannot hold the burst for a client that does not read.
 */
const CLIENT_BUFFER = 1500;
/** Deadline for a flip to reach the stream on a loaded 2-core box. */
const DEADLINE_MS = 30_000;

/** The bootstrap token of the mesh's control planes (init wrote it). */
let token = API_TOKEN;

/** GET /v1/events of `cp` with the mesh's token. */
function openEvents(cp: ControlPlane, ca: Buffer, query = "", lastEventId?: string): Promise<SseClient> {
  return openSse(cp, ca, token, query, lastEventId);
}

interface StatusList {
  generatedAt: number;
  checks: { checkId: string; state: string; name: string; labels: Record<string, string>; regions: object }[];
  unavailablePartitions: number[];
}

describe("GET /v1/status and GET /v1/events across replicas", () => {
  let mesh: Mesh;
  let ca: Buffer;
  let web: FlipTarget;
  let api: FlipTarget;
  let db: FlipTarget;
  let nc: NatsConnection;
  let brokenPort: number;

  beforeAll(async () => {
    [web, api, db] = await Promise.all([startFlipTarget(), startFlipTarget(), startFlipTarget()]);
    mesh = await startMesh({
      regions: REGIONS,
      replicas: 2,
      env: { PROBEMESH_EVENTS_CLIENT_BUFFER: String(CLIENT_BUFFER) },
    });
    ca = readFileSync(mesh.secureNats!.caFile);
    token = mesh.secureNats!.env.PROBEMESH_API_TOKEN ?? API_TOKEN;
    // The control plane's NATS identity, for the burst of the slow-client case (connected early).
    nc = await mesh.secureNats!.connect();
    const check = (id: string, target: FlipTarget, extra: Record<string, unknown>) => ({
      id,
      type: "http",
      intervalMs: 1000,
      timeoutMs: 500,
      http: { url: `http://127.0.0.1:${target.port}/` },
      ...extra,
    });
    for (const c of [
      check("web", web, { labels: { team: "web" } }),
      check("api", api, { labels: { team: "api" }, regions: ["us-east"] }),
      check("db", db, { labels: { team: "web" } }),
    ]) {
      const res = await mesh.cp.request("/v1/checks", { method: "POST", body: JSON.stringify(c) });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    // A hook whose receiver is down: its failed deliveries carry an error naming the receiver.
    brokenPort = await freePort();
    const hook = await mesh.cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "broken",
        type: "webhook",
        url: `http://127.0.0.1:${brokenPort}/hook-private-path`,
        events: ["outage.opened"],
        checks: ["web"],
      }),
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
  }, 180_000);

  afterAll(async () => {
    await nc?.close();
    await mesh?.dispose();
    for (const t of [web, api, db]) t?.close();
  });

  const explain = (err: unknown): never => {
    throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
  };
  const list = async (cp: ControlPlane, query = "") => {
    const res = await cp.request(`/v1/status${query}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as StatusList;
  };

  it("either replica lists every check with its verdict; filters by state, label and region", async () => {
    for (const cp of mesh.replicas)
      await waitFor(
        "every check up on this replica",
        async () => {
          const l = await list(cp);
          return l.checks.length === 3 && l.checks.every((c) => c.state === "up") ? l : undefined;
        },
        DEADLINE_MS,
        250,
      ).catch(explain);
    const all = await list(mesh.replicas[1]!);
    expect(all.checks.map((c) => c.checkId)).toEqual(["api", "db", "web"]);
    expect(all.unavailablePartitions).toEqual([]);
    expect(all.checks[2]).toMatchObject({ name: "web", labels: { team: "web" } });
    const ids = async (q: string) => (await list(mesh.replicas[1]!, q)).checks.map((c) => c.checkId);
    expect(await ids("?label=team=web")).toEqual(["db", "web"]);
    expect(await ids("?region=eu-west")).toEqual(["db", "web"]);
    expect(await ids("?state=down")).toEqual([]);
    expect(await ids("?state=up,down&label=team=api")).toEqual(["api"]);
    const trimmed = await list(mesh.replicas[0]!, "?region=us-east&label=team=api");
    expect(Object.keys(trimmed.checks[0]!.regions)).toEqual(["us-east"]);
    expect((await mesh.cp.request("/v1/status?state=sideways")).status).toBe(400);
  });

  let watcher: SseClient;

  it("a target's flip reaches an SSE client on either replica within seconds (status and transition)", async () => {
    const clients = await Promise.all(mesh.replicas.map((cp) => openEvents(cp, ca)));
    const filtered = await openEvents(mesh.replicas[1]!, ca, "?types=status&label=team=api");
    // The same filter matching web: it must see web's change (a filter dropping everything fails here).
    const matching = await openEvents(mesh.replicas[1]!, ca, "?types=status&label=team=web");
    watcher = await openEvents(mesh.replicas[0]!, ca);
    for (const c of [...clients, filtered, matching, watcher]) expect(c.status).toBe(200);
    const missing = await openEvents(mesh.replicas[0]!, ca, "?types=nope");
    expect(missing.status).toBe(400);
    // Token in neither the header nor the query: 401.
    const anonymous = await fetchStatus(mesh.cp, ca, "/v1/events");
    expect(anonymous).toBe(401);

    const flippedAt = Date.now();
    web.healthy = false;
    for (const c of clients) {
      const opened = await waitFor(
        "outage.opened of web",
        () =>
          c.events.find((e) => e.event === "transition" && e.data.type === "outage.opened" && e.data.checkId === "web"),
        DEADLINE_MS,
        100,
      ).catch(explain);
      expect(opened.data).toMatchObject({ checkId: "web", data: { checkId: "web", state: "down" } });
      expect(typeof opened.id).toBe("string");
      const down = c.events.find((e) => e.event === "status" && e.data.checkId === "web" && e.data.state === "down");
      expect(down?.data).toMatchObject({ checkId: "web", state: "down", regions: { "eu-west": { state: "down" } } });
    }
    // Seconds, not the deadline: failure threshold 2 at a 1 s interval, plus ingest and the stream.
    expect(Date.now() - flippedAt).toBeLessThan(DEADLINE_MS);
    // The filtered client saw nothing of web; the one selecting web's label saw its status go down.
    expect(filtered.events.filter((e) => e.data.checkId !== "api" || e.event !== "status")).toEqual([]);
    await waitFor(
      "status down of web through ?label=team=web",
      () => matching.events.find((e) => e.event === "status" && e.data.checkId === "web" && e.data.state === "down"),
      DEADLINE_MS,
      100,
    ).catch(explain);
    expect(matching.events.filter((e) => e.event !== "status" || e.data.checkId === "api")).toEqual([]);
    // The failed delivery reaches the stream without its error text (it names the receiver); the
    // admin delivery log has it.
    const failed = await waitFor(
      "the failed delivery of the broken hook",
      () => watcher.events.find((e) => e.event === "delivery" && e.data.hookId === "broken"),
      DEADLINE_MS,
      100,
    ).catch(explain);
    expect(failed.data).toMatchObject({ hookId: "broken", checkId: "web", outcome: "failed" });
    expect(Object.keys(failed.data)).not.toContain("error");
    expect(JSON.stringify(failed.data)).not.toMatch(new RegExp(`hook-private-path|:${brokenPort}`));
    const log = await mesh.cp.request("/v1/hooks/broken/deliveries");
    expect(JSON.stringify(await log.json())).toContain(String(brokenPort));
    for (const c of [...clients, filtered, matching, missing]) c.close();
  });

  it("a client back with Last-Event-ID gets exactly the events it missed", async () => {
    const before = watcher.events.length;
    const lastSeenId = watcher.events.at(-1)!.id;
    web.healthy = true;
    await waitFor(
      "outage.resolved of web",
      () =>
        watcher.events.find(
          (e) => e.event === "transition" && e.data.type === "outage.resolved" && e.data.checkId === "web",
        ),
      DEADLINE_MS,
      100,
    ).catch(explain);
    // Let the status changes and deliveries that follow the recovery arrive too.
    await new Promise((r) => setTimeout(r, 2000));
    const missed = watcher.events.slice(before);
    expect(missed.length).toBeGreaterThan(0);
    const resumed = await openEvents(mesh.replicas[1]!, ca, "", lastSeenId);
    await waitFor("the missed events", () => resumed.events.length >= missed.length || undefined, DEADLINE_MS, 100);
    await new Promise((r) => setTimeout(r, 1000));
    const key = (e: SseEvent) => `${e.event} ${JSON.stringify(e.data)}`;
    // Exactly those: none twice, none left out (newer ones may follow both).
    const got = resumed.events.slice(0, missed.length).map(key).sort();
    expect(got).toEqual(missed.map(key).sort());
    expect(resumed.events.slice(missed.length).map(key)).toEqual(watcher.events.slice(before + missed.length).map(key));
    resumed.close();
  });

  it("a client that stops reading is disconnected while another keeps receiving", async () => {
    // A burst of status events (as owners publish them) larger than the socket buffers and the
    // client's allowance: 4000 of ~4 KB.
    const js = jetstream(nc);
    const slow = await openEvents(mesh.replicas[1]!, ca);
    const fast = await openEvents(mesh.replicas[1]!, ca);
    slow.pause();
    const pad = "x".repeat(4000);
    const BURST = 4000;
    for (let i = 0; i < BURST; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, BURST - i) }, (_, j) =>
          js.publish(
            "probemesh.events.status.burst",
            JSON.stringify({ checkId: `burst-${i + j}`, state: "up", since: null, regions: {}, pad }),
          ),
        ),
      );
    await waitFor(
      "the fast client got the whole burst",
      () => fast.events.find((e) => e.data.checkId === `burst-${BURST - 1}`),
      DEADLINE_MS,
      100,
    ).catch(explain);
    await waitFor(
      "the replica cut the slow client off",
      () => mesh.replicas[1]!.proc.output().includes("too slow"),
      DEADLINE_MS,
      200,
    ).catch(explain);
    slow.resume();
    await Promise.race([
      slow.ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error("the slow client's stream did not end")), 15_000)),
    ]);
    expect(slow.events.length).toBeLessThan(BURST);
    // The other client still receives live events.
    const n = fast.events.length;
    web.healthy = false;
    await waitFor(
      "a live event after the burst",
      () => fast.events.slice(n).find((e) => e.data.checkId === "web"),
      DEADLINE_MS,
      100,
    ).catch(explain);
    fast.close();
    watcher?.close();
  });
});

describe("GET /v1/status's bulk requests on a nats-server with a small max_payload", () => {
  const MAX_PAYLOAD = 16_384;
  let dir: string;
  let server: Managed;
  let owner: NatsConnection;
  let asker: NatsConnection;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "probemesh-status-paging-"));
    const port = await freePort();
    writeFileSync(join(dir, "nats.conf"), `listen: "127.0.0.1:${port}"\nmax_payload: ${MAX_PAYLOAD}\n`);
    server = startProcess("nats-server", "nats-server", ["-c", join(dir, "nats.conf")]);
    await waitForPort("127.0.0.1", port);
    [owner, asker] = await Promise.all([
      connect({ servers: `127.0.0.1:${port}` }),
      connect({ servers: `127.0.0.1:${port}` }),
    ]);
  });

  afterAll(async () => {
    await owner?.close();
    await asker?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("pages a reply larger than max_payload: every check listed once; one status too large for any reply is named", async () => {
    // 300 checks with 20 agents each (~2 KB a status, ~600 KB in all) in one partition.
    const agents = Array.from({ length: 20 }, (_, i) => ({ agentId: `agent-${i}-${"a".repeat(40)}`, state: "up" }));
    const statusOf = (checkId: string): CheckStatus =>
      ({
        checkId,
        state: "up",
        reason: checkId === "huge" ? "x".repeat(2 * MAX_PAYLOAD) : "",
        since: 1,
        regions: { "eu-west": { state: "up", since: 1, impaired: false, agents } },
        outage: null,
      }) as unknown as CheckStatus;
    const ids = [...Array.from({ length: 300 }, (_, i) => `check-${String(i).padStart(3, "0")}`), "huge"];
    const leases = {
      holds: (p: number) => p === 0,
      owned: () => [{ partition: 0, epoch: 1 }],
      onAcquired: () => () => undefined,
      onLost: () => () => undefined,
    } as unknown as PartitionLeases;
    const served = serveStatus({ nc: owner, leases, status: statusOf, log: pino({ level: "silent" }) });
    await owner.flush();
    try {
      const got = await allStatuses(ids, {
        leases: { holds: () => false },
        partitionOf: () => 0,
        local: () => undefined,
        forwarded: forwardedStatuses({ nc: asker, timeoutMs: 5000 }),
      });
      expect(got.unavailablePartitions).toEqual([]);
      expect([...got.statuses.keys()].sort()).toEqual(ids.filter((id) => id !== "huge"));
      expect(got.statuses.get("check-299")).toEqual(statusOf("check-299"));
      expect(got.oversized).toEqual(["huge"]);
      expect(served.stats.paged).toBeGreaterThan(10);
      expect(served.stats).toMatchObject({ oversized: 1, failed: 0, malformed: 0 });
    } finally {
      served.stop();
    }
  });
});

/** The status of a GET over HTTPS trusting `ca`, without a token. */
function fetchStatus(cp: ControlPlane, ca: Buffer, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${cp.api}${path}`, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}
