// The failover chain end to end, through the built programs: three agents in three regions probe
// one HTTP target; when it fails everywhere the control plane agrees on an outage and one signed
// `outage.opened` reaches a local webhook consumer; recovery sends `outage.resolved` for the same outage.
import { verifyWebhook } from "@probemesh/control-plane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { startMesh, waitFor, type ControlPlane, type Mesh } from "./harness/mesh.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;

interface EventBody {
  id: string;
  type: string;
  data: {
    checkId: string;
    outageId?: string;
    state: string;
    regions: Record<string, { state: string }>;
    startedAt?: number;
    reason?: string;
  };
}

describe("failover hooks end to end: outage in a quorum of regions -> one signed webhook", () => {
  let mesh: Mesh;
  let cp: ControlPlane;
  let target: FlipTarget;
  let receiver: Receiver;
  let secret = "";

  beforeAll(async () => {
    target = await startFlipTarget();
    receiver = await startReceiver();
    mesh = await startMesh({ regions: REGIONS });
    cp = mesh.cp;
  });

  afterAll(async () => {
    await mesh?.dispose();
    await receiver?.close();
    target?.close();
  });

  const diagnostics = () => mesh.diagnostics();

  function events(type: string): EventBody[] {
    return receiver.received.map((r) => JSON.parse(r.body) as EventBody).filter((e) => e.type === type);
  }

  it("creates a webhook hook (secret returned once) and a check that is up everywhere", async () => {
    const port = target.port;
    const hook = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "lb",
        type: "webhook",
        url: receiver.url,
        events: ["outage.opened", "outage.resolved"],
        checks: ["web"],
      }),
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
    secret = ((await hook.json()) as { secret: string }).secret;
    expect(secret).toMatch(/^whsec_/);
    const again = (await (await cp.request("/v1/hooks/lb")).json()) as { secret?: string };
    expect(again.secret).not.toBe(secret);

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
    await waitFor(
      "web up in every region",
      async () => {
        const s = (await (await cp.request("/v1/checks/web/status")).json()) as { state: string };
        return s.state === "up";
      },
      30_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });
  });

  let outageId = "";
  it("target down everywhere -> exactly one signed outage.opened", async () => {
    const failedAt = Date.now();
    target.healthy = false;
    const [opened] = await waitFor(
      "outage.opened at the consumer",
      () => (events("outage.opened").length > 0 ? events("outage.opened") : undefined),
      30_000,
      100,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${diagnostics()}`);
    });
    const delivery = receiver.received.find((r) => (JSON.parse(r.body) as EventBody).type === "outage.opened")!;
    const verified = verifyWebhook<EventBody>(secret, delivery.headers as Record<string, string>, delivery.body);
    // webhook-id is the event id scoped to the hook, the same on every attempt.
    expect(delivery.headers["webhook-id"]).toBe(`${verified.id}:lb`);
    expect(opened!.data.checkId).toBe("web");
    expect(opened!.data.state).toBe("down");
    expect(Object.keys(opened!.data.regions).sort()).toEqual([...REGIONS].sort());
    expect(opened!.data.reason).toBe("http_status");
    expect(opened!.data.startedAt).toBeGreaterThanOrEqual(failedAt - 1000);
    outageId = opened!.data.outageId!;
    expect(outageId).toBeTruthy();
    // A wrong secret does not verify.
    expect(() =>
      verifyWebhook(
        "whsec_" + Buffer.alloc(32, 1).toString("base64"),
        delivery.headers as Record<string, string>,
        delivery.body,
      ),
    ).toThrow();
    // Still exactly one, a few intervals later.
    await new Promise((r) => setTimeout(r, 3000));
    expect(events("outage.opened")).toHaveLength(1);
    const outages = (await (await cp.request("/v1/outages?checkId=web&state=open")).json()) as {
      id: string;
      kind: string;
    }[];
    expect(outages.map((o) => o.id)).toContain(outageId);
  });

  it("target back -> outage.resolved for the same outage, and the delivery log shows both", async () => {
    target.healthy = true;
    const [resolved] = await waitFor(
      "outage.resolved at the consumer",
      () => (events("outage.resolved").length > 0 ? events("outage.resolved") : undefined),
      30_000,
      100,
    );
    expect(resolved!.data.outageId).toBe(outageId);
    // The delivery is recorded once the receiver has answered: wait for the record, not only the arrival.
    const want = [`${outageId}:outage.opened`, `${outageId}:outage.resolved`];
    const delivered = await waitFor(
      "both deliveries in the log",
      async () => {
        const log = (await (await cp.request("/v1/hooks/lb/deliveries")).json()) as {
          eventId: string;
          status: number;
        }[];
        const ok = log.filter((d) => d.status >= 200 && d.status < 300).map((d) => d.eventId);
        return want.every((id) => ok.includes(id)) ? ok : undefined;
      },
      10_000,
      100,
    );
    expect(delivered).toEqual(expect.arrayContaining(want));
  });

  it("a restarted control plane re-announces recent incidents without delivering anything twice", async () => {
    const before = receiver.received.length;
    cp = await mesh.restartControlPlane();
    await waitFor(
      "re-announcement logged",
      () => cp.proc.output().includes("re-announced recent incidents"),
      30_000,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${cp.proc.output().slice(-3000)}`);
    });
    // Give the delivery worker time to (not) send them.
    await new Promise((r) => setTimeout(r, 3000));
    expect(receiver.received.length).toBe(before);
    expect(events("outage.opened")).toHaveLength(1);
    expect(events("outage.resolved")).toHaveLength(1);
  });
});
