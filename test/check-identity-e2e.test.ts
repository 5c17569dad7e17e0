// A check id deleted and created again is a new check, end to end through the built programs: the
// new one has another uid, and its results, incidents, availability and status start clean; the
// deleted one's results and incidents stay readable by uid (GET /v1/checks/:id/history).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { startMesh, waitFor, waitForOutage, type ControlPlane, type Mesh } from "./harness/mesh.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;

interface CheckBody {
  id: string;
  uid: string;
  createdAt: number;
}
interface ResultBody {
  checkUid: string;
  startedAt: number;
  state: string;
}
interface OutageBody {
  id: string;
  checkUid: string;
  state: string;
}
interface StatusBody {
  state: string;
  outage: OutageBody | null;
}
interface Identity {
  uid: string;
  createdAt: number;
  deletedAt: number | null;
  current: boolean;
  target: string;
}

describe("a re-created check id starts clean; the deleted one's history is readable by uid", () => {
  let mesh: Mesh;
  let cp: ControlPlane;
  let target: FlipTarget;

  beforeAll(async () => {
    target = await startFlipTarget();
    mesh = await startMesh({ regions: REGIONS });
    cp = mesh.cp;
  });

  afterAll(async () => {
    await mesh?.dispose();
    target?.close();
  });

  const get = async <T>(path: string): Promise<T> => {
    const res = await cp.request(path);
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
    return (await res.json()) as T;
  };
  const explain = (err: unknown): never => {
    throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
  };
  const create = async (): Promise<CheckBody> => {
    const res = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 500,
        http: { url: `http://127.0.0.1:${target.port}/` },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as CheckBody;
  };

  let first: CheckBody;
  let firstOutage: OutageBody;
  it("the first web check goes down: an outage of its uid", async () => {
    first = await create();
    expect(first.uid).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(
      "web up",
      async () => (await get<StatusBody>("/v1/checks/web/status")).state === "up",
      30_000,
      250,
    ).catch(explain);
    target.healthy = false;
    const s = await waitForOutage<StatusBody>(cp, "web").catch(explain);
    firstOutage = s.outage!;
    expect(firstOutage.checkUid).toBe(first.uid);
    await waitFor(
      "the outage stored",
      async () => (await get<OutageBody[]>("/v1/outages?checkId=web")).some((o) => o.id === firstOutage.id),
      10_000,
      200,
    ).catch(explain);
    const results = await get<ResultBody[]>("/v1/checks/web/results?limit=1000");
    expect(results.length).toBeGreaterThan(0);
    expect(new Set(results.map((r) => r.checkUid))).toEqual(new Set([first.uid]));
  });

  let second: CheckBody;
  it("deleted and created again (target up again): another uid, and nothing of the first", async () => {
    const del = await cp.request("/v1/checks/web", { method: "DELETE" });
    expect(del.status).toBe(204);
    target.healthy = true;
    second = await create();
    expect(second.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(second.uid).not.toBe(first.uid);

    await waitFor(
      "the new web up",
      async () => (await get<StatusBody>("/v1/checks/web/status")).state === "up",
      30_000,
      250,
    ).catch(explain);
    const status = await get<StatusBody>("/v1/checks/web/status");
    expect(status.outage).toBeNull();
    // Its own results only, none from before it existed.
    const results = await waitFor(
      "results of the new check",
      async () => {
        const list = await get<ResultBody[]>("/v1/checks/web/results?limit=1000");
        return list.length >= 3 ? list : undefined;
      },
      15_000,
      250,
    ).catch(explain);
    expect(new Set(results.map((r) => r.checkUid))).toEqual(new Set([second.uid]));
    expect(results.every((r) => r.startedAt >= second.createdAt && r.state === "up")).toBe(true);
    expect(await get<OutageBody[]>("/v1/outages?checkId=web")).toEqual([]);
    const availability = await get<{ outages: number; downtimeMs: number; availability: number | null }>(
      "/v1/checks/web/availability?window=1h",
    );
    expect(availability).toMatchObject({ outages: 0, downtimeMs: 0 });
    expect(availability.availability === null || availability.availability === 100).toBe(true);
  });

  it("the history lists both identities; the first one's results and incidents are readable by uid", async () => {
    const history = await get<{ identities: Identity[] }>("/v1/checks/web/history");
    expect(history.identities.map((i) => [i.uid, i.current])).toEqual([
      [second.uid, true],
      [first.uid, false],
    ]);
    const old = history.identities[1]!;
    expect(old.deletedAt).toBeGreaterThanOrEqual(first.createdAt);
    expect(old.target).toBe(`http://127.0.0.1:${target.port}/`);
    expect(history.identities[0]!.deletedAt).toBeNull();

    const past = await get<{ identity: Identity; results: ResultBody[]; outages: OutageBody[] }>(
      `/v1/checks/web/history?uid=${first.uid}&limit=1000`,
    );
    expect(past.identity.uid).toBe(first.uid);
    expect(past.results.length).toBeGreaterThan(0);
    expect(new Set(past.results.map((r) => r.checkUid))).toEqual(new Set([first.uid]));
    expect(past.results.some((r) => r.state === "down")).toBe(true);
    const outage = past.outages.find((o) => o.id === firstOutage.id);
    // Deleted while open: abandoned, never resolved.
    expect(outage).toMatchObject({ checkUid: first.uid, state: "abandoned" });

    const unknown = await cp.request("/v1/checks/web/history?uid=not-a-uid-of-web");
    expect(unknown.status).toBe(404);
  });

  it("a replace carrying another uid is refused, naming uid", async () => {
    const res = await cp.request("/v1/checks/web", {
      method: "PUT",
      body: JSON.stringify({
        uid: first.uid,
        type: "http",
        intervalMs: 1000,
        timeoutMs: 500,
        http: { url: `http://127.0.0.1:${target.port}/` },
      }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { details: { field: string } } };
    expect(body.error.details.field).toBe("uid");
  });
});
