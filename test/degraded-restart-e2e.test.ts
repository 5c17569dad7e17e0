// A check degraded (and announced) before the control plane stopped, that recovered while no
// control plane ran, gets its check.recovered once a control plane runs again: the announcement is
// remembered in NATS KV, not only in the engine's memory. Built programs, real NATS and ClickHouse.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, waitFor, type ControlPlane, type Mesh } from "./harness/mesh.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;

interface EventBody {
  id: string;
  type: string;
  data: { checkId: string; state: string };
}

describe("check.recovered after a restart for a check that recovered while the control plane was down", () => {
  let mesh: Mesh;
  let cp: ControlPlane;
  let target: Server;
  let slow = true;
  let receiver: Receiver;

  beforeAll(async () => {
    // Slow (300 ms, over degradedAfterMs) but successful answers make the check degraded, not down.
    target = createServer((_req, res) => {
      setTimeout(() => res.writeHead(200).end("ok\n"), slow ? 300 : 0);
    });
    await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", () => resolve()));
    receiver = await startReceiver();
    mesh = await startMesh({ regions: REGIONS });
    cp = mesh.cp;
  });

  afterAll(async () => {
    await mesh?.dispose();
    await receiver?.close();
    target?.close();
  });

  const events = (type: string): EventBody[] =>
    receiver.received
      .map((r) => JSON.parse(r.body) as EventBody)
      .filter((e) => e.type === type && e.data.checkId === "web");
  const fail = (err: unknown): never => {
    throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
  };

  it("a slow target -> check.degraded reaches the hook", async () => {
    const port = (target.address() as { port: number }).port;
    const hook = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "pager",
        type: "webhook",
        url: receiver.url,
        events: ["check.degraded", "check.recovered"],
        checks: ["web"],
      }),
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
    const check = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 1000,
        degradedAfterMs: 150,
        http: { url: `http://127.0.0.1:${port}/` },
      }),
    });
    expect(check.status, await check.clone().text()).toBe(201);
    await waitFor("check.degraded at the consumer", () => events("check.degraded").length > 0, 45_000, 100).catch(fail);
    expect(events("check.degraded")[0]!.data.state).toBe("degraded");
    expect(events("check.recovered")).toHaveLength(0);
  });

  it("stopped while degraded, target healthy meanwhile, restarted -> exactly one check.recovered", async () => {
    await cp.stop();
    slow = false;
    // Longer than the engine's warm-up lookback (freshness window + thresholds): the restarted
    // engine finds no recent result and starts the check as unknown, not degraded, so it would
    // never announce a recovery on its own.
    await new Promise((r) => setTimeout(r, 12_000));
    cp = await mesh.restartControlPlane();
    const [recovered] = await waitFor(
      "check.recovered at the consumer",
      () => (events("check.recovered").length > 0 ? events("check.recovered") : undefined),
      45_000,
      100,
    ).catch(fail);
    expect(recovered!.data.state).toBe("up");
    const status = (await (await cp.request("/v1/checks/web/status")).json()) as { state: string };
    expect(status.state).toBe("up");
    // Still exactly one a few intervals later, and no second degraded.
    await new Promise((r) => setTimeout(r, 4000));
    expect(events("check.recovered")).toHaveLength(1);
    expect(events("check.degraded")).toHaveLength(1);
  });

  it("a second restart announces nothing again (the mark was cleared)", async () => {
    const before = receiver.received.length;
    cp = await mesh.restartControlPlane();
    await new Promise((r) => setTimeout(r, 5000));
    expect(receiver.received.length).toBe(before);
  });
});
