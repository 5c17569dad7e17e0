// Deleting a check is not a recovery, through the built programs: three agents in three regions
// probe one HTTP target, which is also the primary server of a real HAProxy backend. The target
// fails everywhere, consensus opens an outage and the control plane puts the primary in maintenance.
// Then the check is deleted during the outage: the webhook consumer hears `incident.abandoned` and
// `check.deleted` (never `outage.resolved`), PagerDuty gets the resolve of the very incident it was
// triggered for, and HAProxy keeps the primary in maintenance.
import { createServer, type Server } from "node:http";
import { type DeliveryRecord, verifyWebhook } from "@probemesh/control-plane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { listenOnLoopback } from "./harness/ports.js";
import { startHaproxy, type HaproxyServer } from "./harness/haproxy.js";
import { startMesh, waitFor, type ControlPlane, type Mesh } from "./harness/mesh.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const BACKEND = "be_web";
/** Deadline for consensus + delivery after a change; generous for a loaded 2-core box. */
const DEADLINE_MS = 45_000;

interface EventBody {
  id: string;
  type: string;
  data: { checkId: string; outageId?: string; state: string; cause?: string; resolvedAt?: number };
}

interface PagerdutyBody {
  event_action: string;
  dedup_key: string;
  payload?: { summary: string };
}

describe("check deleted during an outage: abandoned, not resolved; failover kept", () => {
  let mesh: Mesh;
  let cp: ControlPlane;
  let haproxy: HaproxyServer;
  let target: FlipTarget;
  let backup: Server;
  let feed: Receiver;
  let pd: Receiver;
  let secret = "";

  beforeAll(async () => {
    target = await startFlipTarget({ up: "primary", down: "down" });
    backup = createServer((_req, res) => res.writeHead(200).end("backup"));
    const [targetPort, backupPort] = [target.port, await listenOnLoopback(backup)];
    [feed, pd] = await Promise.all([startReceiver(), startReceiver()]);
    pd.reply = (body: string) => ({ status: "success", dedup_key: (JSON.parse(body) as PagerdutyBody).dedup_key });
    [haproxy, mesh] = await Promise.all([
      startHaproxy({
        backend: BACKEND,
        servers: { primary: `127.0.0.1:${targetPort}`, standby: `127.0.0.1:${backupPort} backup` },
      }),
      startMesh({ regions: REGIONS }),
    ]);
    cp = mesh.cp;
  });

  afterAll(async () => {
    await mesh?.dispose();
    await Promise.all([haproxy?.dispose(), feed?.close(), pd?.close()]);
    target?.close();
    backup?.close();
  });

  async function deliveries(hookId: string): Promise<DeliveryRecord[]> {
    return (await (await cp.request(`/v1/hooks/${hookId}/deliveries`)).json()) as DeliveryRecord[];
  }

  async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    try {
      return await waitFor(what, fn, DEADLINE_MS, 200);
    } catch (err) {
      const logs = await Promise.all(
        ["lb", "feed", "pd"].map(async (id) => `${id}: ${JSON.stringify(await deliveries(id))}`),
      );
      throw new Error(`${String(err)}\n${logs.join("\n")}\n${await mesh.diagnostics()}`);
    }
  }

  function events(): EventBody[] {
    return feed.received.map((r) => {
      // Every delivery is signed: the consumer's own check.
      return verifyWebhook<EventBody>(secret, r.headers as Record<string, string>, r.body);
    });
  }

  async function primaryInMaint(): Promise<boolean> {
    const text = await haproxy.command(`show servers state ${BACKEND}`);
    const lines = text.split("\n").map((l) => l.trim());
    const cols = (lines.find((l) => l.startsWith("# be_id")) ?? "").slice(2).split(" ");
    const row = lines
      .filter((l) => l !== "" && !l.startsWith("#") && l !== "1")
      .map((l) => l.split(" "))
      .find((f) => f[cols.indexOf("srv_name")] === "primary");
    if (!row) throw new Error(`no primary in 'show servers state':\n${text}`);
    return (Number(row[cols.indexOf("srv_admin_state")]) & 0x01) !== 0;
  }

  async function post(path: string, body: unknown): Promise<Response> {
    const res = await cp.request(path, { method: "POST", body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(201);
    return res;
  }

  it("hooks with their default events (haproxy, webhook feed, pagerduty) and a check that is up", async () => {
    await post("/v1/hooks", {
      id: "lb",
      type: "haproxy",
      checks: ["web"],
      haproxy: { socket: haproxy.socket, backend: BACKEND, server: "primary" },
    });
    const hook = await post("/v1/hooks", { id: "feed", type: "webhook", url: feed.url, checks: ["web"] });
    secret = ((await hook.json()) as { secret: string }).secret;
    await post("/v1/hooks", { id: "pd", type: "pagerduty", url: pd.url, pagerduty: { routingKey: "R0UTINGKEY" } });
    const port = target.port;
    await post("/v1/checks", {
      id: "web",
      type: "http",
      intervalMs: 1000,
      timeoutMs: 800,
      http: { url: `http://127.0.0.1:${port}/` },
    });
    await eventually("web up", async () => {
      const s = (await (await cp.request("/v1/checks/web/status")).json()) as { state: string };
      return s.state === "up";
    });
    expect(await primaryInMaint()).toBe(false);
  });

  let outageId = "";
  it("the target fails everywhere: outage, HAProxy primary in maint, PagerDuty triggered", async () => {
    target.healthy = false;
    const opened = await eventually("outage.opened at the feed", async () =>
      events().find((e) => e.type === "outage.opened"),
    );
    outageId = opened.data.outageId!;
    await eventually("HAProxy primary in maint", primaryInMaint);
    await eventually("PagerDuty trigger", async () => pd.received.length > 0);
  });

  it("the check is deleted: incident.abandoned + check.deleted, never outage.resolved; HAProxy stays in maint", async () => {
    const del = await cp.request("/v1/checks/web", { method: "DELETE" });
    expect(del.status, await del.clone().text()).toBe(204);
    const abandoned = await eventually("incident.abandoned at the feed", async () =>
      events().find((e) => e.type === "incident.abandoned"),
    );
    expect(abandoned).toMatchObject({
      id: `${outageId}:incident.abandoned`,
      data: { checkId: "web", outageId, state: "abandoned", cause: "check.deleted" },
    });
    expect(abandoned.data.resolvedAt).toBeGreaterThan(0);
    const deleted = await eventually("check.deleted at the feed", async () =>
      events().find((e) => e.type === "check.deleted"),
    );
    expect(deleted).toMatchObject({ id: `${outageId}:check.deleted`, data: { outageId, cause: "check.deleted" } });

    // PagerDuty: one dedup_key for the incident, one trigger and one resolve, the resolve saying why.
    const bodies = await eventually("PagerDuty resolve", async () => {
      const b = pd.received.map((r) => JSON.parse(r.body) as PagerdutyBody);
      return b.some((x) => x.event_action === "resolve") ? b : undefined;
    });
    expect(bodies.map((b) => [b.event_action, b.dedup_key])).toEqual([
      ["trigger", outageId],
      ["resolve", outageId],
    ]);
    expect(bodies[1]!.payload?.summary).toContain("not recovered: check web was deleted");

    // Time for a wrong failback to show, had one been sent; the target even answers again.
    target.healthy = true;
    await new Promise((r) => setTimeout(r, 3000));
    expect(await primaryInMaint()).toBe(true);
    expect(events().map((e) => e.type)).not.toContain("outage.resolved");
    // The haproxy hook never even got a delivery for the abandon: only the failover.
    const lb = await deliveries("lb");
    expect([...new Set(lb.map((r) => r.eventId))], JSON.stringify(lb)).toEqual([`${outageId}:outage.opened`]);
    // The incident is on record as abandoned, not resolved.
    const list = (await (await cp.request("/v1/outages?checkId=web")).json()) as { id: string; state: string }[];
    expect(list.find((o) => o.id === outageId)?.state, JSON.stringify(list)).toBe("abandoned");
  });
});
