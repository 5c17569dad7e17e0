// An agent given two control-plane replicas (PROBEMESH_GRPC_ADDR="a,b") keeps going when the one
// it is connected to is killed with SIGKILL: it moves to the other within seconds, the other
// serves it the same assignments (from the shared KV registry), and its results keep being stored.
// Built programs, one secure NATS (operator mode, TLS) and one ClickHouse shared by both replicas,
// TLS gRPC to both addresses verified against the same CA.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { enrollAgent, startAgent, startControlPlane, waitFor, type Agent, type ControlPlane } from "./harness/mesh.js";
import { startSecureNats, type SecureNatsServer } from "./harness/nats.js";

const REGION = "eu-west";
const AGENT_ID = "agent-failover";

interface ApiResult {
  id: string;
  agentId: string;
  startedAt: number;
  state: string;
  seq: number;
}

interface LogLine {
  msg?: string;
  addr?: string;
  from?: string;
  to?: string;
  reason?: string;
  time?: number;
  checks?: number;
}

describe("agent failover between control-plane replicas", () => {
  let nats: SecureNatsServer;
  let ch: ClickHouseServer;
  const replicas: ControlPlane[] = [];
  let agent: Agent;
  let target: Server;

  beforeAll(async () => {
    target = createServer((_req, res) => res.writeHead(200).end("ok\n"));
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", () => resolve()));
    [nats, ch] = await Promise.all([startSecureNats(), startClickHouse()]);
    // One after the other: the first creates the streams, buckets and tables the second finds.
    for (let i = 0; i < 2; i++)
      replicas.push(
        await startControlPlane({ natsUrl: nats.url, clickhouseUrl: ch.url, caFile: nats.caFile, env: nats.env }),
      );
  }, 120_000);

  afterAll(async () => {
    await agent?.dispose();
    await Promise.all(replicas.map((cp) => cp.stop()));
    await Promise.all([nats?.dispose(), ch?.dispose()]);
    target?.close();
  });

  const logLines = (): LogLine[] =>
    agent.proc
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  const connectedTo = (): string[] =>
    logLines()
      .filter((l) => l.msg === "connected to the control plane")
      .map((l) => l.addr ?? "");
  const diagnostics = () =>
    [...replicas, agent]
      .filter(Boolean)
      .map((p) => `--- ${p.proc.name} ---\n${p.proc.output().slice(-4000)}`)
      .join("\n");
  const fail = (err: unknown): never => {
    throw new Error(`${String(err)}\n${diagnostics()}`);
  };
  const results = async (cp: ControlPlane): Promise<ApiResult[]> => {
    const res = await cp.request(`/v1/checks/web/results?region=${REGION}&limit=1000`);
    if (res.status !== 200) throw new Error(`results: ${res.status} ${await res.text()}`);
    return (await res.json()) as ApiResult[];
  };

  it("moves to the surviving replica within seconds of a kill -9, keeps its assignments, and its results keep arriving", async () => {
    const [first, second] = replicas as [ControlPlane, ControlPlane];
    const port = (target.address() as { port: number }).port;
    const created = await first.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 800,
        http: { url: `http://127.0.0.1:${port}/` },
      }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    // Enrolled on one replica, known to both (the enrollment registry is NATS KV).
    const token = await enrollAgent(first, { id: AGENT_ID, region: REGION });
    agent = startAgent({
      id: AGENT_ID,
      region: REGION,
      token,
      grpcAddr: `${first.grpcAddr},${second.grpcAddr}`,
      natsUrl: nats.url,
      caFile: nats.caFile,
    });

    const initialAddr = await waitFor("the agent's first connection", () => connectedTo()[0], 30_000).catch(fail);
    const connected = replicas.find((cp) => cp.grpcAddr === initialAddr);
    const survivor = replicas.find((cp) => cp.grpcAddr !== initialAddr)!;
    expect(connected, `connected to ${initialAddr}`).toBeDefined();
    await waitFor("results stored", async () => (await results(survivor)).length >= 3, 45_000).catch(fail);

    await connected!.proc.kill(); // SIGKILL to that replica's PID only
    const killedAt = Date.now();
    await waitFor("the agent on the surviving replica", () => connectedTo().includes(survivor.grpcAddr), 10_000).catch(
      fail,
    );
    const reconnectMs = Date.now() - killedAt;
    expect(reconnectMs, "reconnect time").toBeLessThan(5000);
    const move = logLines().find((l) => l.msg?.startsWith("moving to control-plane replica"));
    expect(move).toMatchObject({ from: initialAddr, to: survivor.grpcAddr });
    expect(move?.reason).toMatch(/^(assignment stream|heartbeat|GetNatsCredentials)/);

    // The survivor served the same check: nothing was removed, the snapshot carries it.
    const snapshots = await waitFor("the survivor's snapshot", () => {
      const s = logLines().filter((l) => l.msg === "assignment snapshot received");
      return s.length >= 2 ? s : undefined;
    }).catch(fail);
    expect(snapshots.at(-1)?.checks).toBe(1);
    expect(logLines().filter((l) => l.msg === "check removed")).toHaveLength(0);

    // Results probed after the kill are stored and served by the survivor.
    const after = await waitFor(
      "results probed after the kill",
      async () => {
        const fresh = (await results(survivor)).filter((r) => r.startedAt > killedAt && r.agentId === AGENT_ID);
        return fresh.length >= 3 ? fresh : undefined;
      },
      30_000,
    ).catch(fail);
    expect(after.every((r) => r.state === "up")).toBe(true);

    // The survivor records the agent as connected (presence is shared in NATS KV).
    const presence = await waitFor(
      "the agent connected on the survivor",
      async () => {
        const res = await survivor.request(`/v1/agents/${AGENT_ID}`);
        const body = (await res.json()) as { connected: boolean };
        return body.connected ? body : undefined;
      },
      20_000,
    ).catch(fail);
    expect(presence.connected).toBe(true);
  }, 180_000);
});
