// Maintenance windows end to end, through the built programs: an outage confirmed inside a window
// is recorded and shown, but the webhook consumer hears nothing while the window lasts; the target
// still down when the window ends, the outage is announced then (same event id), and its recovery after.
// GET /v1/events shows the held opening at once, marked `held` by the window, and its release later.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEvents, type SseClient } from "./harness/sse.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { API_TOKEN, startMesh, waitFor, waitForOutage, type ControlPlane, type Mesh } from "./harness/mesh.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;

interface EventBody {
  id: string;
  type: string;
  timestamp: string;
  data: { checkId: string; outageId?: string };
}

/** `event: transition` data of GET /v1/events. */
interface TransitionData {
  id: string;
  type: string;
  checkId: string;
  data: { outageId?: string };
  held?: { by: string; windowId?: string };
}

interface StatusBody {
  state: string;
  outage: { id: string } | null;
  maintenance?: { id: string; from: number; to: number };
}

describe("maintenance window end to end: an outage inside it reaches hooks only when the window ends", () => {
  let mesh: Mesh;
  let cp: ControlPlane;
  let target: FlipTarget;
  let receiver: Receiver;
  let stream: SseClient | undefined;
  /** The `transition` events the stream has carried so far. */
  const transitions = () => (stream?.events ?? []).map((e) => e.data as unknown as TransitionData);

  beforeAll(async () => {
    target = await startFlipTarget();
    receiver = await startReceiver();
    mesh = await startMesh({ regions: REGIONS });
    cp = mesh.cp;
  });

  afterAll(async () => {
    stream?.close();
    await mesh?.dispose();
    await receiver?.close();
    target?.close();
  });

  const events = (type: string) =>
    receiver.received.map((r) => JSON.parse(r.body) as EventBody).filter((e) => e.type === type);
  const status = async () => (await (await cp.request("/v1/checks/web/status")).json()) as StatusBody;
  const explain = (err: unknown): never => {
    throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
  };

  it("a hook, a check that is up everywhere", async () => {
    const port = target.port;
    const hook = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({ id: "lb", type: "webhook", url: receiver.url, checks: ["web"] }),
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
    const check = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 500,
        http: { url: `http://127.0.0.1:${port}/` },
      }),
    });
    expect(check.status).toBe(201);
    await waitFor("web up in every region", async () => (await status()).state === "up", 30_000, 250).catch(explain);
  });

  let windowEnd = 0;
  let outageId = "";
  it("target down inside a window: the outage is stored and shown, no outage.opened is sent", async () => {
    const from = Date.now();
    windowEnd = from + 15_000;
    const created = await cp.request("/v1/maintenance", {
      method: "POST",
      body: JSON.stringify({ id: "upgrade", checks: ["web"], from, to: windowEnd }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    expect((await status()).maintenance).toEqual({ id: "upgrade", from, to: windowEnd });
    // Answered once the server follows the stream: nothing decided after this is missed.
    const sse = await openEvents(
      cp,
      readFileSync(mesh.secureNats!.caFile),
      mesh.secureNats!.env.PROBEMESH_API_TOKEN ?? API_TOKEN,
      "?types=transition",
    );
    stream = sse;
    expect(sse.status).toBe(200);

    target.healthy = false;
    const s = await waitForOutage<StatusBody>(cp, "web", 12_000).catch(explain);
    outageId = s.outage!.id;
    // The stream explains the down state: the opening, held by the window (hooks get nothing of it).
    const held = await waitFor(
      "held outage.opened on GET /v1/events",
      () => transitions().find((t) => t.type === "outage.opened" && t.held),
      10_000,
      100,
    ).catch(explain);
    expect(held).toMatchObject({
      id: `${outageId}:outage.opened`,
      checkId: "web",
      data: { outageId },
      held: { by: "maintenance", windowId: "upgrade" },
    });
    // Held for the rest of the window.
    while (Date.now() < windowEnd - 500) {
      expect(events("outage.opened")).toEqual([]);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(receiver.received).toEqual([]);
    await waitFor(
      "held announcement logged",
      () => cp.proc.output().includes("incident opened inside a maintenance window"),
      5000,
      100,
    );
  });

  it("the window ends with the target still down: outage.opened is sent then, with its own id", async () => {
    const [opened] = await waitFor(
      "outage.opened after the window",
      () => (events("outage.opened").length > 0 ? events("outage.opened") : undefined),
      15_000,
      100,
    ).catch(explain);
    expect(Date.now()).toBeGreaterThanOrEqual(windowEnd);
    expect(opened!.id).toBe(`${outageId}:outage.opened`);
    expect(opened!.timestamp).toBe(new Date(windowEnd).toISOString());
    // The stream shows the release too, this time without `held`.
    await waitFor(
      "released outage.opened on GET /v1/events",
      () => transitions().some((t) => t.id === opened!.id && !t.held),
      10_000,
      100,
    ).catch(explain);
    expect(
      transitions()
        .filter((t) => t.held)
        .map((t) => t.id),
    ).toEqual([opened!.id]);
    expect((await status()).maintenance).toBeUndefined();

    target.healthy = true;
    const [resolved] = await waitFor(
      "outage.resolved",
      () => (events("outage.resolved").length > 0 ? events("outage.resolved") : undefined),
      30_000,
      100,
    ).catch(explain);
    expect(resolved!.data.outageId).toBe(outageId);
    expect(events("outage.opened")).toHaveLength(1);
  });
});
