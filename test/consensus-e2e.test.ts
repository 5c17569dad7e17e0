// Cross-region consensus end to end: three agents (the real bin), each in its own network namespace,
// probe one HTTP target through the control plane (the real bin): results flow over JetStream to the
// partition decider that owns the check (and, beside it, into ClickHouse); the consensus API answers.
// Paths to the target are cut with blackhole routes inside a region's namespace.
import { createServer, type Server } from "node:http";
import type { Outage } from "@probemesh/control-plane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { enrollAgent, startAgent, startControlPlane, waitFor, type Agent, type ControlPlane } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { createRegions, netnsUnavailable, type Regions } from "./harness/netns.js";

const REGION_NAMES = ["eu-west", "us-east", "ap-south"] as const;
const INTERVAL = 1000;
const unavailable = netnsUnavailable();
if (unavailable) process.stderr.write(`consensus e2e: ${unavailable}\n`);

describe.skipIf(unavailable !== undefined)("consensus end to end: three regions in network namespaces", () => {
  const targetIp = `198.19.${(process.pid % 200) + 20}.10`;
  let regions: Regions;
  let target: Server;
  let targetPort = 0;
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  const agents: Agent[] = [];
  const testStart = Date.now();

  const region = (name: string) => regions.regions.find((r) => r.name === name)!;
  const rootSide = (nsAddress: string) => nsAddress.replace(/\.2$/, ".1");

  async function get<T>(path: string): Promise<T> {
    const res = await cp.request(path);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as T;
  }

  const status = () =>
    get<{ state: string; regions: Record<string, { state: string }>; outage: Outage | null }>("/v1/checks/web/status");
  /** The check's stored incidents of `kind` (ClickHouse history, written in the background). */
  const stored = (kind: string, state?: string) =>
    get<Outage[]>(`/v1/outages?checkId=web&kind=${kind}${state ? `&state=${state}` : ""}`);

  function diagnostics(): string {
    return [cp, ...agents].map((p) => `--- ${p.proc.name} ---\n${p.proc.output().slice(-2500)}`).join("\n");
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
    return await waitFor(what, fn, ms, 200).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });
  }

  beforeAll(async () => {
    regions = createRegions(REGION_NAMES);
    regions.addHostAddress(targetIp);
    target = createServer((_req, res) => res.writeHead(200).end("ok\n"));
    targetPort = await new Promise<number>((resolve) =>
      target.listen(0, targetIp, () => resolve((target.address() as { port: number }).port)),
    );

    [nats, ch] = await Promise.all([startNats({ host: "0.0.0.0" }), startClickHouse()]);
    const natsPort = new URL(nats.url.replace("nats://", "http://")).port;
    // Listens on every address: the agents reach it from their namespaces through the root side of their link.
    cp = await startControlPlane({
      natsUrl: `nats://127.0.0.1:${natsPort}`,
      clickhouseUrl: ch.url,
      host: "0.0.0.0",
      env: { PROBEMESH_PARTITIONS: "16" },
    });
    const grpcPort = cp.grpcAddr.slice(cp.grpcAddr.lastIndexOf(":") + 1);

    for (const name of REGION_NAMES) {
      const r = region(name);
      const opts = {
        id: `agent-${name}`,
        region: name,
        netns: r.netns,
        grpcAddr: `${rootSide(r.address)}:${grpcPort}`,
        natsUrl: `nats://${rootSide(r.address)}:${natsPort}`,
      };
      agents.push(startAgent({ ...opts, token: await enrollAgent(cp, opts) }));
    }
    const res = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: INTERVAL,
        timeoutMs: 500,
        regions: [...REGION_NAMES],
        failureThreshold: 2,
        recoveryThreshold: 2,
        http: { url: `http://${targetIp}:${targetPort}/`, method: "GET", expectStatus: ["200"] },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    await cp?.stop();
    await Promise.all([nats?.dispose(), ch?.dispose()]);
    await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()));
    regions?.dispose();
  });

  it("every region sees the target up: the check is up", async () => {
    await until(
      "check up in all three regions",
      async () => {
        const s = await status();
        return s.state === "up" && REGION_NAMES.every((r) => s.regions[r]?.state === "up") ? s : undefined;
      },
      60_000,
    );
  });

  let euCutAt = 0;
  it("cutting one region's path gives a partial naming that region, and no outage", async () => {
    euCutAt = Date.now();
    region("eu-west").cut(targetIp);
    // The partial is announced (its incident opens) once it has held for an interval plus the timeout.
    const s = await until("partial", async () => {
      const x = await status();
      return x.state === "partial" && x.outage ? x : undefined;
    });
    expect(s.regions["eu-west"]?.state).toBe("down");
    expect(s.outage).toMatchObject({ kind: "partial", state: "open", regions: ["eu-west"] });
    // It stays a regional incident for several more intervals.
    await new Promise((r) => setTimeout(r, 4 * INTERVAL));
    expect((await status()).state).toBe("partial");
    // Its history is written to ClickHouse in the background; no outage is, ever.
    await until("partial stored", async () => (await stored("partial")).length === 1);
    expect(await stored("outage")).toEqual([]);
  });

  let outage: Outage;
  it("cutting a majority opens an outage that started at the first failing observation of the quorum", async () => {
    region("us-east").cut(targetIp);
    const s = await until("down", async () => {
      const x = await status();
      return x.state === "down" ? x : undefined;
    });
    expect(s.outage).toMatchObject({ kind: "outage", state: "open" });
    outage = s.outage!;
    expect(outage.regions).toEqual(["eu-west", "us-east"]);
    // eu-west failed first; its first failing result after the cut is the outage's start (read once
    // storage, which runs beside the deciders, has caught up with the decision).
    await until("eu-west's results stored past the decision", async () => {
      const [row] = await ch.rows<{ n: string }>(
        `SELECT count() AS n FROM probemesh.results WHERE check_id = 'web' AND region = 'eu-west' AND started_at >= ${outage.confirmedAt}`,
      );
      return Number(row?.n ?? 0) > 0;
    });
    const [first] = await ch.rows<{ t: string }>(
      `SELECT min(started_at) AS t FROM probemesh.results WHERE check_id = 'web' AND region = 'eu-west' AND state = 'down' AND started_at >= ${euCutAt - INTERVAL}`,
    );
    expect(outage.startedAt).toBe(Number(first!.t));
    expect(outage.startedAt).toBeGreaterThanOrEqual(euCutAt - INTERVAL);
    expect(outage.confirmedAt).toBeGreaterThan(outage.startedAt);
    await until("open outage stored", async () => (await stored("outage", "open")).length > 0);
    expect((await stored("outage", "open")).map((o) => o.id)).toEqual([outage.id]);
  });

  it("restoring the paths resolves the outage, and availability reflects it", async () => {
    region("eu-west").restore(targetIp);
    region("us-east").restore(targetIp);
    await until("up again", async () => {
      const x = await status();
      return x.state === "up" ? x : undefined;
    });
    const resolved = await until("resolved outage stored", async () => {
      const [o] = await stored("outage");
      return o?.state === "resolved" ? o : undefined;
    });
    expect(resolved).toMatchObject({ id: outage.id, state: "resolved", startedAt: outage.startedAt });
    expect(resolved.resolvedAt).toBeGreaterThan(resolved.confirmedAt);
    await until("nothing open stored", async () => (await stored("outage,partial", "open")).length === 0);

    const a = await get<{
      outages: number;
      downtimeMs: number;
      availability: number;
      regions: Record<string, { downtimeMs: number; results: { down: number } }>;
    }>(`/v1/checks/web/availability?from=${testStart}&to=${Date.now()}`);
    expect(a.outages).toBe(1);
    expect(a.downtimeMs).toBe(resolved.resolvedAt! - resolved.startedAt);
    expect(a.availability).toBeLessThan(100);
    // eu-west was down from the outage's start until at least its end (it may be what ended it); ap-south never.
    expect(a.regions["eu-west"]!.downtimeMs).toBeGreaterThanOrEqual(a.downtimeMs);
    expect(a.regions["eu-west"]!.downtimeMs).toBeGreaterThan(a.regions["us-east"]!.downtimeMs);
    expect(a.regions["ap-south"]!.downtimeMs).toBe(0);
    expect(a.regions["eu-west"]!.results.down).toBeGreaterThan(0);
  });
});
