// Cross-region consensus end to end: three agents (the real bin), each in its own network namespace,
// probe one HTTP target; results flow over JetStream into ClickHouse and, through ingest's onStored,
// into the consensus service; the consensus API answers. Paths to the target are cut with blackhole
// routes inside a region's namespace. The control plane's parts run in this process (as main.ts wires them).
import { createServer, type Server } from "node:http";
import { create } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { CheckSchema } from "@probemesh/proto";
import {
  type Api,
  type ClickHouseStore,
  createApi,
  type ConsensusService,
  createAgentDirectory,
  createAgentService,
  createClickHouseStore,
  createConsensusEngine,
  createConsensusService,
  attributingStore,
  followChecks,
  createIngest,
  createOutageStore,
  createRegistry,
  createSecretBox,
  ensureResultsStream,
  type GrpcServer,
  type Ingest,
  type NatsAgentDirectory,
  type NatsRegistry,
  type Outage,
  type OutageStore,
  parseKeyRing,
  policyFromCheck,
  startGrpcServer,
  createMemoryApiTokens,
  createMemoryEnrollments,
} from "@probemesh/control-plane";
import type { Logger } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { SECRET_KEY, startAgent, waitFor, type Agent } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { createRegions, netnsUnavailable, type Regions } from "./harness/netns.js";

const API_TOKEN = "consensus-e2e-token";
const auth = { authorization: `Bearer ${API_TOKEN}` };
const REGION_NAMES = ["eu-west", "us-east", "ap-south"] as const;
const INTERVAL = 1000;
const unavailable = netnsUnavailable();
if (unavailable) process.stderr.write(`consensus e2e: ${unavailable}\n`);

/** A logger that keeps the last lines for diagnostics (pino is not a dependency of the test package). */
function memoryLogger(lines: string[]): Logger {
  const write =
    (level: string) =>
    (...args: unknown[]): void => {
      lines.push(
        `${level} ${args.map((a) => (typeof a === "string" ? a : JSON.stringify(a, (_k, v: unknown) => (v instanceof Error ? v.message : v)))).join(" ")}`,
      );
      if (lines.length > 400) lines.splice(0, lines.length - 400);
    };
  const log: Logger = new Proxy({} as Logger, {
    get: (_t, key) =>
      key === "child"
        ? () => log
        : key === "level"
          ? "info"
          : ["info", "warn", "error", "fatal"].includes(String(key))
            ? write(String(key))
            : () => undefined,
  });
  return log;
}

describe.skipIf(unavailable !== undefined)("consensus end to end: three regions in network namespaces", () => {
  const logLines: string[] = [];
  const log = memoryLogger(logLines);
  const targetIp = `198.19.${(process.pid % 200) + 20}.10`;
  let regions: Regions;
  let target: Server;
  let targetPort = 0;
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let nc: NatsConnection;
  let store: ClickHouseStore;
  let registry: NatsRegistry;
  let agentDir: NatsAgentDirectory;
  let grpc: GrpcServer;
  let ingest: Ingest;
  let outages: OutageStore;
  let consensus: ConsensusService;
  let api: Api;
  const agents: Agent[] = [];
  const testStart = Date.now();

  const region = (name: string) => regions.regions.find((r) => r.name === name)!;
  const rootSide = (nsAddress: string) => nsAddress.replace(/\.2$/, ".1");

  async function status(): Promise<{
    state: string;
    regions: Record<string, { state: string }>;
    outage: Outage | null;
  }> {
    const res = await api.request("/v1/checks/web/status", { headers: auth });
    expect(res.status).toBe(200);
    return (await res.json()) as never;
  }

  function diagnostics(): string {
    return [
      ...agents.map((a) => `--- ${a.proc.name} ---\n${a.proc.output().slice(-2000)}`),
      `--- control plane (in process) ---\n${logLines.slice(-60).join("\n")}`,
    ].join("\n");
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
    nc = await connect({ servers: `nats://127.0.0.1:${natsPort}` });
    await ensureResultsStream(await jetstreamManager(nc));
    store = createClickHouseStore({ url: ch.url, database: "probemesh", log });
    await store.migrate();
    registry = createRegistry({ nc, log, secrets: createSecretBox(parseKeyRing(SECRET_KEY).ring) });
    await registry.start();
    agentDir = createAgentDirectory({ nc, log });
    await agentDir.start();
    const enrollments = createMemoryEnrollments();
    grpc = await startGrpcServer({
      addr: "0.0.0.0:0",
      service: createAgentService({ registry, agents: agentDir, enrollments, log, partitions: 16 }),
      log,
    });
    const grpcPort = grpc.addr.slice(grpc.addr.lastIndexOf(":") + 1);

    outages = createOutageStore({ client: store.client, log });
    const engine = createConsensusEngine({ now: Date.now });
    consensus = createConsensusService({ engine, outageStore: outages, registry, log, tickMs: 250 });
    await consensus.start();
    // As main.ts wires it: each result is stamped with its check's uid before it is stored.
    const attributed = attributingStore(store, { checks: followChecks(registry), log });
    ingest = createIngest({ nc, store: attributed, log, flushMs: 50, onStored: (rows) => consensus.onStored(rows) });
    await ingest.start();
    api = createApi({
      config: { apiToken: API_TOKEN },
      enrollments,
      apiTokens: createMemoryApiTokens(),
      registry,
      store,
      agents: agentDir,
      ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
      log,
      consensus: {
        engine,
        outageStore: outages,
        lookupCheck: async (id) => {
          const record = await registry.get(id);
          return record ? policyFromCheck(record.check) : undefined;
        },
      },
    });

    for (const name of REGION_NAMES) {
      const r = region(name);
      agents.push(
        startAgent({
          id: `agent-${name}`,
          region: name,
          token: (await enrollments.enroll({ id: `agent-${name}`, region: name, provider: "test" })).token,
          netns: r.netns,
          grpcAddr: `${rootSide(r.address)}:${grpcPort}`,
          natsUrl: `nats://${rootSide(r.address)}:${natsPort}`,
        }),
      );
    }
    await registry.create(
      create(CheckSchema, {
        id: "web",
        type: "http",
        intervalMs: INTERVAL,
        timeoutMs: 500,
        regions: [...REGION_NAMES],
        failureThreshold: 2,
        recoveryThreshold: 2,
        http: { url: `http://${targetIp}:${targetPort}/`, method: "GET", expectStatus: ["200"] },
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    await ingest?.stop().catch(() => undefined);
    await consensus?.stop().catch(() => undefined);
    await grpc?.close().catch(() => undefined);
    await agentDir?.stop().catch(() => undefined);
    await registry?.stop().catch(() => undefined);
    await nc?.drain().catch(() => undefined);
    await store?.close().catch(() => undefined);
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
    await consensus.flush();
    expect(await outages.listOutages({ checkId: "web", kinds: ["outage"] })).toEqual([]);
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
    // eu-west failed first; its first failing result after the cut is the outage's start.
    const [first] = await ch.rows<{ t: string }>(
      `SELECT min(started_at) AS t FROM probemesh.results WHERE check_id = 'web' AND region = 'eu-west' AND state = 'down' AND started_at >= ${euCutAt - INTERVAL}`,
    );
    expect(outage.startedAt).toBe(Number(first!.t));
    expect(outage.startedAt).toBeGreaterThanOrEqual(euCutAt - INTERVAL);
    expect(outage.confirmedAt).toBeGreaterThan(outage.startedAt);
    await consensus.flush();
    expect((await outages.listOutages({ checkId: "web", kinds: ["outage"], state: "open" })).map((o) => o.id)).toEqual([
      outage.id,
    ]);
  });

  it("restoring the paths resolves the outage, and availability reflects it", async () => {
    region("eu-west").restore(targetIp);
    region("us-east").restore(targetIp);
    await until("up again", async () => {
      const x = await status();
      return x.state === "up" ? x : undefined;
    });
    await consensus.flush();
    const [stored] = await outages.listOutages({ checkId: "web", kinds: ["outage"] });
    expect(stored).toMatchObject({ id: outage.id, state: "resolved", startedAt: outage.startedAt });
    expect(stored!.resolvedAt).toBeGreaterThan(stored!.confirmedAt);
    expect(await outages.listOutages({ checkId: "web", state: "open" })).toEqual([]);

    const res = await api.request(`/v1/checks/web/availability?from=${testStart}&to=${Date.now()}`, {
      headers: auth,
    });
    expect(res.status).toBe(200);
    const a = (await res.json()) as {
      outages: number;
      downtimeMs: number;
      availability: number;
      regions: Record<string, { downtimeMs: number; results: { down: number } }>;
    };
    expect(a.outages).toBe(1);
    expect(a.downtimeMs).toBe(stored!.resolvedAt! - stored!.startedAt);
    expect(a.availability).toBeLessThan(100);
    // eu-west was down from the outage's start until at least its end (it may be what ended it); ap-south never.
    expect(a.regions["eu-west"]!.downtimeMs).toBeGreaterThanOrEqual(a.downtimeMs);
    expect(a.regions["eu-west"]!.downtimeMs).toBeGreaterThan(a.regions["us-east"]!.downtimeMs);
    expect(a.regions["ap-south"]!.downtimeMs).toBe(0);
    expect(a.regions["eu-west"]!.results.down).toBeGreaterThan(0);
  });
});
