// The whole path on real servers: three agents in three regions -> gRPC assignments -> probes of
// real HTTP and TCP targets -> JetStream -> ClickHouse -> HTTP API.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClickHouseServer } from "./harness/clickhouse.js";
import { startMesh, waitFor, type ControlPlane, type Mesh } from "./harness/mesh.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;

interface ApiResult {
  id: string;
  checkId: string;
  agentId: string;
  region: string;
  provider: string;
  startedAt: number;
  durationMs: number;
  state: string;
  reason: string;
  phases: Record<string, number>;
  seq: number;
  httpStatus?: number;
}

async function listen(server: Server | TcpServer): Promise<number> {
  return await new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : 0);
    });
  });
}

async function chQuery<T>(ch: ClickHouseServer, sql: string): Promise<T[]> {
  const res = await fetch(`${ch.url}/?database=probemesh&query=${encodeURIComponent(`${sql} FORMAT JSONEachRow`)}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

describe("end to end: agents in three regions, real NATS and ClickHouse", () => {
  let mesh: Mesh;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  let httpTarget: Server;
  let tcpTarget: TcpServer;
  let httpPort = 0;
  let tcpPort = 0;
  let httpHits = 0;

  beforeAll(async () => {
    httpTarget = createHttpServer((_req, res) => {
      httpHits++;
      res.writeHead(200, { "content-type": "text/plain" }).end("hello from the target\n");
    });
    tcpTarget = createTcpServer((sock) => sock.end());
    httpPort = await listen(httpTarget);
    tcpPort = await listen(tcpTarget);
    mesh = await startMesh({ regions: REGIONS });
    ({ cp, ch } = mesh);
  });

  afterAll(async () => {
    await mesh?.dispose();
    httpTarget?.close();
    tcpTarget?.close();
  });

  async function results(checkId: string, query = ""): Promise<ApiResult[]> {
    const res = await cp.request(`/v1/checks/${checkId}/results?limit=1000${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as ApiResult[];
  }

  const diagnostics = () => mesh.diagnostics(4000);

  it("registers all three agents", async () => {
    await waitFor(
      "three connected agents",
      async () => {
        const res = await cp.request("/v1/agents");
        const list = (await res.json()) as { id: string; region: string; connected: boolean; lastSeenAt?: number }[];
        return REGIONS.every((r) => list.some((a) => a.region === r && a.connected)) ? list : undefined;
      },
      30_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });
  });

  it("stores HTTP and TCP results from every region in ClickHouse and serves them over the API", async () => {
    const web = {
      id: "web",
      type: "http",
      intervalMs: 1000,
      timeoutMs: 800,
      http: { url: `http://127.0.0.1:${httpPort}/`, method: "GET", expectStatus: [200] },
    };
    const db = { id: "db", type: "tcp", intervalMs: 1000, timeoutMs: 800, tcp: { host: "127.0.0.1", port: tcpPort } };
    for (const check of [web, db]) {
      const res = await cp.request("/v1/checks", { method: "POST", body: JSON.stringify(check) });
      expect(res.status, await res.clone().text()).toBe(201);
    }

    for (const checkId of ["web", "db"]) {
      await waitFor(
        `${checkId} rows from every region in ClickHouse`,
        async () => {
          const rows = await chQuery<{ region: string; n: string }>(
            ch,
            `SELECT region, count() AS n FROM results WHERE check_id = '${checkId}' AND state = 'up' GROUP BY region`,
          );
          return REGIONS.every((r) => rows.some((row) => row.region === r && Number(row.n) >= 2));
        },
        30_000,
        250,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${diagnostics()}`);
      });

      const list = await results(checkId);
      for (const region of REGIONS) {
        const mine = list.filter((r) => r.region === region);
        expect(mine.length, `results of ${checkId} from ${region}`).toBeGreaterThanOrEqual(2);
        const r = mine[0]!;
        expect(r).toMatchObject({ checkId, region, agentId: `agent-${region}`, provider: "test", state: "up" });
        expect(r.reason).toBe("");
        expect(r.durationMs).toBeGreaterThanOrEqual(0);
        expect(r.phases.connectMs).toBeGreaterThanOrEqual(0);
        // Newest first, with a per-agent sequence that grows.
        expect(mine[0]!.startedAt).toBeGreaterThanOrEqual(mine[1]!.startedAt);
        expect(mine[0]!.seq).toBeGreaterThan(mine[1]!.seq);
      }
      const onlyEu = await results(checkId, "&region=eu-west");
      expect(onlyEu.length).toBeGreaterThan(0);
      expect(onlyEu.every((r) => r.region === "eu-west")).toBe(true);
    }
    const webResults = await results("web");
    expect(webResults[0]?.httpStatus).toBe(200);
    expect(httpHits).toBeGreaterThan(0);
  });

  it("runs a check in each region a third of the interval after the previous region", async () => {
    // The agents learn the mesh's regions with their assignments and place each region's runs in its
    // own slot of the interval (a failure then reaches a second region within two thirds of it).
    const phases = await waitFor(
      "the newest four web results of every region",
      async () => {
        const list = await results("web");
        const byRegion = REGIONS.map((region) =>
          list
            .filter((r) => r.region === region)
            .sort((a, b) => b.startedAt - a.startedAt)
            .slice(0, 4),
        );
        if (byRegion.some((rs) => rs.length < 4)) return undefined;
        // The median phase of a region's runs in the 1 s interval (a late start moves one run, not the median).
        return byRegion.map((rs) => rs.map((r) => r.startedAt % 1000).sort((a, b) => a - b)[1]!);
      },
      30_000,
      250,
    );
    const sorted = [...phases].sort((a, b) => a - b);
    const gaps = sorted.map((p, i) => (i + 1 < sorted.length ? sorted[i + 1]! : sorted[0]! + 1000) - p);
    // 333 ms apart, give or take the quarter slot a region's agents spread over (83 ms) and scheduling.
    for (const gap of gaps) expect(gap, `phases ${phases.join(", ")} ms`).toBeGreaterThan(190);
    for (const gap of gaps) expect(gap, `phases ${phases.join(", ")} ms`).toBeLessThan(480);
  });

  it("agrees across regions that both checks are up, and lists no outage", async () => {
    for (const checkId of ["web", "db"]) {
      const status = await waitFor(
        `${checkId} up in every region`,
        async () => {
          const res = await cp.request(`/v1/checks/${checkId}/status`);
          const body = (await res.json()) as {
            state: string;
            regions: Record<string, { state: string; impaired: boolean }>;
          };
          return body.state === "up" && REGIONS.every((r) => body.regions[r]?.state === "up") ? body : undefined;
        },
        20_000,
        250,
      );
      expect(REGIONS.every((r) => status.regions[r]?.impaired === false)).toBe(true);
    }
    const outages = await cp.request("/v1/outages?checkId=web");
    expect(outages.status).toBe(200);
    expect(await outages.json()).toEqual([]);
    const agents = (await (await cp.request("/v1/agents")).json()) as { id: string; impaired: boolean }[];
    expect(agents.map((a) => a.impaired)).toEqual([false, false, false]);
  });

  it("probes a check added through the API within two intervals, and stops a deleted one", async () => {
    const created = Date.now();
    const check = {
      id: "late",
      type: "http",
      intervalMs: 2000,
      timeoutMs: 1000,
      regions: ["us-east"],
      http: { url: `http://127.0.0.1:${httpPort}/late` },
    };
    const res = await cp.request("/v1/checks", { method: "POST", body: JSON.stringify(check) });
    expect(res.status).toBe(201);
    const first = await waitFor(
      "first result of the new check",
      async () => {
        const list = await results("late");
        return list.length > 0 ? list : undefined;
      },
      15_000,
      100,
    );
    const earliest = Math.min(...first.map((r) => r.startedAt));
    expect(earliest - created).toBeLessThanOrEqual(2 * check.intervalMs);
    // Only the region the check names runs it.
    expect(first.every((r) => r.region === "us-east")).toBe(true);

    const del = await cp.request("/v1/checks/late", { method: "DELETE" });
    expect(del.status).toBe(204);
    const deletedAt = Date.now();
    // Give in-flight results time to land, then make sure nothing newer arrives for a few intervals.
    await new Promise((r) => setTimeout(r, 3 * check.intervalMs));
    const rows = await chQuery<{ last: string }>(
      ch,
      `SELECT max(started_at) AS last FROM results WHERE check_id = 'late'`,
    );
    const last = Number(rows[0]?.last ?? 0);
    // A run that had already started when the delete landed may still be stored; no later ones.
    expect(last).toBeLessThan(deletedAt + 1000);
    const gone = await cp.request("/v1/checks/late");
    expect(gone.status).toBe(404);
  });
});
