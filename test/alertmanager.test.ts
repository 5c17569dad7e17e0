// The alertmanager hook against a real Alertmanager (Debian's prometheus-alertmanager): an outage
// opens an active alert, its recovery ends the same alert, and a test event leaves nothing firing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAlertmanager, type Alertmanager } from "./harness/alertmanager.js";
import { startMesh, waitFor, type Mesh } from "./harness/mesh.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";

const REGIONS = ["eu-west", "us-east"] as const;
const DEADLINE_MS = 30_000;

describe("alertmanager hook, real Alertmanager", () => {
  let mesh: Mesh;
  let am: Alertmanager;
  let web: FlipTarget;

  beforeAll(async () => {
    [web, am] = await Promise.all([startFlipTarget(), startAlertmanager()]);
    mesh = await startMesh({ regions: REGIONS });
    const post = (path: string, body: unknown) => mesh.cp.request(path, { method: "POST", body: JSON.stringify(body) });
    const hook = await post("/v1/hooks", {
      id: "am",
      type: "alertmanager",
      url: `${am.url}/api/v2/alerts`,
      alertmanager: { labels: { team: "web" } },
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
    const check = await post("/v1/checks", {
      id: "web",
      type: "http",
      intervalMs: 1000,
      timeoutMs: 500,
      http: { url: `http://127.0.0.1:${web.port}/` },
    });
    expect(check.status, await check.clone().text()).toBe(201);
  }, 180_000);

  afterAll(async () => {
    await mesh?.dispose();
    await am?.dispose();
    web?.close();
  });

  const explain = (err: unknown): never => {
    throw new Error(`${String(err)}\n${mesh.diagnostics()}\n--- alertmanager ---\n${am.proc.output().slice(-2000)}`);
  };
  const outageAlerts = async () =>
    (await am.alerts()).filter((a) => a.labels.alertname === "ProbemeshOutage" && a.labels.check === "web");

  it("an outage opens an active alert; its recovery ends it", async () => {
    await waitFor(
      "web up",
      async () => ((await (await mesh.cp.request("/v1/checks/web/status")).json()) as { state: string }).state === "up",
      DEADLINE_MS,
      250,
    ).catch(explain);
    web.healthy = false;
    const [alert] = await waitFor(
      "an active ProbemeshOutage alert for web",
      async () => {
        const list = (await outageAlerts()).filter((a) => a.status.state === "active");
        return list.length > 0 ? list : undefined;
      },
      DEADLINE_MS,
      250,
    ).catch(explain);
    expect(alert!.labels).toMatchObject({
      alertname: "ProbemeshOutage",
      check: "web",
      team: "web",
      severity: "critical",
    });
    expect(alert!.annotations.summary).toBe("check web is down");
    web.healthy = true;
    // The same labels with endsAt: Alertmanager resolves it and no longer lists it.
    await waitFor("the alert resolved", async () => (await outageAlerts()).length === 0, DEADLINE_MS, 250).catch(
      explain,
    );
  });

  it("a test event is followed by its resolution: nothing stays firing", async () => {
    const res = await mesh.cp.request("/v1/hooks/am/test", { method: "POST" });
    expect(res.status, await res.clone().text()).toBe(202);
    const { eventId } = (await res.json()) as { eventId: string };
    const record = await waitFor(
      "the test delivery",
      async () => {
        const list = (await (await mesh.cp.request("/v1/hooks/am/deliveries")).json()) as {
          eventId: string;
          outcome: string;
          result?: { action: string };
        }[];
        return list.find((d) => d.eventId === eventId && d.outcome === "delivered");
      },
      DEADLINE_MS,
      250,
    ).catch(explain);
    expect(record.result?.action).toContain("then its resolution");
    expect((await am.alerts()).filter((a) => a.labels.alertname === "ProbemeshTest")).toEqual([]);
  });
});
