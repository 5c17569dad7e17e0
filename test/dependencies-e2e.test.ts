// Dependencies and maintenance by labels end to end, through the built programs and real targets:
// an outage of a check whose dependency is down is stored and shown as suppressed, and the webhook
// consumer hears of it only if it outlasts the dependency; a maintenance window that selects checks
// by label silences a real outage until it ends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { startMesh, waitFor, waitForOutage, type ControlPlane, type Mesh } from "./harness/mesh.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;

interface EventBody {
  id: string;
  type: string;
  timestamp: string;
  data: { checkId: string; outageId?: string };
}
interface OutageBody {
  id: string;
  checkId: string;
  state: string;
  suppressed: boolean;
  suppressedBy?: string[];
}
interface StatusBody {
  state: string;
  outage: OutageBody | null;
  suppressedBy?: string[];
  maintenance?: { id: string; from: number; to: number };
}

describe("dependencies and maintenance by labels end to end", () => {
  let mesh: Mesh;
  let cp: ControlPlane;
  let db: FlipTarget;
  let app: FlipTarget;
  let api: FlipTarget;
  let receiver: Receiver;

  beforeAll(async () => {
    [db, app, api] = await Promise.all([startFlipTarget(), startFlipTarget(), startFlipTarget()]);
    receiver = await startReceiver();
    mesh = await startMesh({ regions: REGIONS });
    cp = mesh.cp;
  });

  afterAll(async () => {
    await mesh?.dispose();
    await receiver?.close();
    for (const t of [db, app, api]) t?.close();
  });

  const events = (checkId: string, type?: string) =>
    receiver.received
      .map((r) => JSON.parse(r.body) as EventBody)
      .filter((e) => e.data.checkId === checkId && (type === undefined || e.type === type));
  const status = async (id: string) => (await (await cp.request(`/v1/checks/${id}/status`)).json()) as StatusBody;
  const explain = (err: unknown): never => {
    throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
  };
  const post = (path: string, body: unknown) => cp.request(path, { method: "POST", body: JSON.stringify(body) });
  const check = (id: string, target: FlipTarget, extra: Record<string, unknown> = {}) => ({
    id,
    type: "http",
    intervalMs: 1000,
    timeoutMs: 500,
    http: { url: `http://127.0.0.1:${target.port}/` },
    ...extra,
  });
  const downWithOutage = (id: string, timeoutMs = 15_000) =>
    waitForOutage<StatusBody>(cp, id, timeoutMs).catch(explain);
  const eventually = (what: string, fn: () => EventBody[], timeoutMs = 20_000) =>
    waitFor(what, () => (fn().length > 0 ? fn() : undefined), timeoutMs, 100).catch(explain);

  it("checks with dependsOn and labels, a hook; bad dependencies are refused naming dependsOn", async () => {
    const hook = await post("/v1/hooks", { id: "all", type: "webhook", url: receiver.url });
    expect(hook.status, await hook.clone().text()).toBe(201);
    expect((await post("/v1/checks", check("db", db))).status).toBe(201);
    // The dependent confirms no faster than its dependency (see README: suppression is decided at opening).
    const created = await post("/v1/checks", check("app", app, { dependsOn: ["db"], failureThreshold: 3 }));
    expect(created.status, await created.clone().text()).toBe(201);
    expect(await created.json()).toMatchObject({ dependsOn: ["db"] });
    const labelled = await post("/v1/checks", check("api", api, { labels: { team: "payments", env: "prod" } }));
    expect(labelled.status).toBe(201);
    expect(await labelled.json()).toMatchObject({ labels: { team: "payments", env: "prod" } });

    for (const bad of [check("x", app, { dependsOn: ["nope"] }), check("x", app, { dependsOn: ["x"] })]) {
      const res = await post("/v1/checks", bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { details: { field: string } } }).error.details.field).toBe("dependsOn");
    }
    const cycle = await cp.request("/v1/checks/db", {
      method: "PUT",
      body: JSON.stringify(check("db", db, { dependsOn: ["app"] })),
    });
    expect(cycle.status).toBe(400);
    const body = (await cycle.json()) as { error: { message: string; details: { field: string } } };
    expect(body.error.details.field).toBe("dependsOn");

    for (const id of ["db", "app", "api"])
      await waitFor(`${id} up`, async () => (await status(id)).state === "up", 30_000, 250).catch(explain);
  });

  it("db down, then app down: app's outage is suppressed (stored, shown), not announced", async () => {
    db.healthy = false;
    await eventually("db outage.opened", () => events("db", "outage.opened"));
    app.healthy = false;
    const s = await downWithOutage("app");
    expect(s.outage).toMatchObject({ suppressed: true, suppressedBy: ["db"] });
    expect(s.suppressedBy).toEqual(["db"]);
    const stored = await waitFor(
      "app's outage stored as suppressed",
      async () => {
        const list = (await (await cp.request("/v1/outages?checkId=app")).json()) as OutageBody[];
        return list.find((o) => o.id === s.outage!.id);
      },
      10_000,
      200,
    ).catch(explain);
    expect(stored).toMatchObject({ suppressed: true, suppressedBy: ["db"], state: "open" });
    await new Promise((r) => setTimeout(r, 3000));
    expect(events("app")).toEqual([]);
  });

  it("db recovers with app still down: app's outage is announced then, and its recovery later", async () => {
    const appOutage = (await status("app")).outage!.id;
    db.healthy = true;
    const [opened] = await eventually("app outage.opened after db recovered", () => events("app", "outage.opened"));
    expect(opened!.data.outageId).toBe(appOutage);
    expect(events("db", "outage.resolved")).toHaveLength(1);
    expect((await status("app")).suppressedBy).toBeUndefined();
    app.healthy = true;
    const [resolved] = await eventually("app outage.resolved", () => events("app", "outage.resolved"));
    expect(resolved!.data.outageId).toBe(appOutage);
  });

  it("an app outage that ends while db is still down is never announced", async () => {
    const before = events("app").length;
    db.healthy = false;
    await eventually("second db outage.opened", () => (events("db", "outage.opened").length > 1 ? events("db") : []));
    app.healthy = false;
    const s = await downWithOutage("app");
    expect(s.outage).toMatchObject({ suppressed: true });
    app.healthy = true;
    await waitFor("app up again", async () => (await status("app")).state === "up", 20_000, 200).catch(explain);
    db.healthy = true;
    await eventually("second db outage.resolved", () =>
      events("db", "outage.resolved").length > 1 ? events("db") : [],
    );
    await new Promise((r) => setTimeout(r, 2000));
    expect(events("app").slice(before)).toEqual([]);
    const list = (await (await cp.request("/v1/outages?checkId=app")).json()) as OutageBody[];
    expect(list.find((o) => o.id === s.outage!.id)).toMatchObject({ state: "resolved", suppressed: true });
  });

  it("a maintenance window selecting team=payments silences api's real outage until it ends", async () => {
    const from = Date.now();
    const to = from + 15_000;
    const created = await post("/v1/maintenance", { id: "payments", labels: { team: "payments" }, from, to });
    expect(created.status, await created.clone().text()).toBe(201);
    expect(await created.json()).toMatchObject({ labels: { team: "payments" }, checks: [] });
    expect((await status("api")).maintenance).toEqual({ id: "payments", from, to });
    expect((await status("db")).maintenance).toBeUndefined();

    api.healthy = false;
    const s = await downWithOutage("api", 12_000);
    while (Date.now() < to - 500) {
      expect(events("api")).toEqual([]);
      await new Promise((r) => setTimeout(r, 250));
    }
    const [opened] = await eventually("api outage.opened after the window", () => events("api", "outage.opened"));
    expect(Date.now()).toBeGreaterThanOrEqual(to);
    expect(opened!.data.outageId).toBe(s.outage!.id);
    expect(opened!.timestamp).toBe(new Date(to).toISOString());
    api.healthy = true;
  });
});
