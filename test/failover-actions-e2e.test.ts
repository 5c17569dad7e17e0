// Built-in failover actions driven by a real outage, through the built programs: three agents in
// three regions probe one HTTP target, which is also the primary server of a real HAProxy backend.
// When the target fails everywhere, consensus opens an outage and the control plane itself puts the
// primary in maintenance (traffic really reaches the backup) and points a real PowerDNS record at
// the standby; when the target recovers, both are switched back. Nothing here publishes events by
// hand: every action comes from the consensus on probe results.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { promisify } from "node:util";
import type { DeliveryRecord } from "@probemesh/control-plane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { listenOnLoopback } from "./harness/ports.js";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { startHaproxy, type HaproxyServer } from "./harness/haproxy.js";
import { startControlPlane, startEnrolledAgent, waitFor, type Agent, type ControlPlane } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { startPowerdns, type PowerdnsServer } from "./harness/powerdns.js";

const run = promisify(execFile);

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const BACKEND = "be_web";
const ZONE = "example.test.";
const NAME = `www.${ZONE}`;
const PRIMARY = "192.0.2.10";
const STANDBY = "198.51.100.10";
/** Requests sent through HAProxy per traffic assertion (bounded). */
const TRAFFIC_SAMPLES = 20;
/** Deadline for consensus + action after a change of the target; generous for a loaded 2-core box. */
const ACTION_DEADLINE_MS = 45_000;

interface ServerState {
  name: string;
  opState: number;
  adminState: number;
}

describe("failover actions end to end: real outage -> HAProxy maint + PowerDNS standby, recovery -> back", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  let haproxy: HaproxyServer;
  let pdns: PowerdnsServer;
  const agents: Agent[] = [];
  let target: FlipTarget;
  let backup: Server;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    // The probed target is HAProxy's primary server; the backup only serves while it is out.
    target = await startFlipTarget({ up: "primary", down: "primary down" });
    backup = createServer((_req, res) => res.writeHead(200).end("backup"));
    const [targetPort, backupPort] = [target.port, await listenOnLoopback(backup)];
    [nats, ch, haproxy, pdns] = await Promise.all([
      startNats(),
      startClickHouse(),
      startHaproxy({
        backend: BACKEND,
        servers: { primary: `127.0.0.1:${targetPort}`, standby: `127.0.0.1:${backupPort} backup` },
      }),
      startPowerdns({ zone: ZONE, records: { www: [PRIMARY] }, ttl: 5 }),
    ]);
    cp = await startControlPlane({ natsUrl: nats.url, clickhouseUrl: ch.url });
    for (const region of REGIONS) {
      agents.push(
        await startEnrolledAgent(cp, { id: `agent-${region}`, region, grpcAddr: cp.grpcAddr, natsUrl: nats.url }),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.dispose()));
    await cp?.stop();
    await Promise.all([nats?.dispose(), ch?.dispose(), haproxy?.dispose(), pdns?.dispose()]);
    target?.close();
    backup?.close();
    if (Object.keys(timings).length > 0)
      process.stdout.write(`failover-actions-e2e timings (ms): ${JSON.stringify(timings)}\n`);
  });

  async function deliveries(hookId: string): Promise<DeliveryRecord[]> {
    const res = await cp.request(`/v1/hooks/${hookId}/deliveries`);
    if (res.status !== 200)
      throw new Error(`GET /v1/hooks/${hookId}/deliveries: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as DeliveryRecord[];
  }

  /** Everything a failed wait needs to be understood: status, delivery logs, every process's output. */
  async function diagnostics(): Promise<string> {
    const status = await cp
      .request("/v1/checks/web/status")
      .then((r) => r.text())
      .catch((err: unknown) => String(err));
    const logs = await Promise.all(
      ["lb", "dns"].map((id) =>
        deliveries(id).then(
          (l) => `${id}: ${JSON.stringify(l)}`,
          (err: unknown) => `${id}: ${String(err)}`,
        ),
      ),
    );
    const procs = [cp.proc, ...agents.map((a) => a.proc), haproxy.proc, pdns.proc];
    return [
      `--- check status ---\n${status}`,
      `--- delivery logs ---\n${logs.join("\n")}`,
      ...procs.map((p) => `--- ${p.name} ---\n${p.output().slice(-3000)}`),
    ].join("\n");
  }

  /** waitFor with a long deadline whose failure carries the diagnostics. */
  async function eventually<T>(
    what: string,
    fn: () => Promise<T | undefined | false>,
    timeoutMs = ACTION_DEADLINE_MS,
  ): Promise<T> {
    try {
      return await waitFor(what, fn, timeoutMs, 200);
    } catch (err) {
      throw new Error(`${String(err)}\n${await diagnostics()}`);
    }
  }

  /** The primary server as HAProxy's runtime API reports it (read over its socket, not via the code under test). */
  async function primaryState(): Promise<ServerState> {
    const text = await haproxy.command(`show servers state ${BACKEND}`);
    const lines = text.split("\n").map((l) => l.trim());
    const cols = (lines.find((l) => l.startsWith("# be_id")) ?? "").slice(2).split(" ");
    const row = lines
      .filter((l) => l !== "" && !l.startsWith("#") && l !== "1")
      .map((l) => l.split(" "))
      .find((f) => f[cols.indexOf("srv_name")] === "primary");
    if (!row) throw new Error(`no primary in 'show servers state':\n${text}`);
    return {
      name: "primary",
      opState: Number(row[cols.indexOf("srv_op_state")]),
      adminState: Number(row[cols.indexOf("srv_admin_state")]),
    };
  }

  const inMaint = (s: ServerState) => (s.adminState & 0x01) !== 0;

  /** Which servers answered `TRAFFIC_SAMPLES` real requests through HAProxy's frontend. */
  async function servedBy(): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < TRAFFIC_SAMPLES; i++)
      seen.push(await (await fetch(haproxy.url, { signal: AbortSignal.timeout(5000) })).text());
    return seen;
  }

  /** A real DNS query to PowerDNS (async: the probed target lives in this process and must keep answering). */
  async function dig(): Promise<string> {
    const [host, port] = pdns.dnsAddr.split(":");
    const { stdout } = await run(
      "dig",
      [`@${host}`, "-p", String(port), NAME, "A", "+short", "+norecurse", "+time=2", "+tries=1"],
      { timeout: 5000 },
    );
    return stdout.trim();
  }

  it("creates an haproxy and a powerdns hook (secret masked) and a check that is up everywhere", async () => {
    const lb = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "lb",
        type: "haproxy",
        checks: ["web"],
        haproxy: { socket: haproxy.socket, backend: BACKEND, server: "primary" },
      }),
    });
    expect(lb.status, await lb.clone().text()).toBe(201);
    const dns = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "dns",
        type: "powerdns",
        url: pdns.apiUrl,
        checks: ["web"],
        powerdns: {
          apiKey: pdns.apiKey,
          zone: ZONE,
          name: NAME,
          ttl: 5,
          primary: [PRIMARY],
          standby: [STANDBY],
          verifyServer: pdns.dnsAddr,
        },
      }),
    });
    expect(dns.status, await dns.clone().text()).toBe(201);
    expect(await (await cp.request("/v1/hooks/dns")).text()).not.toContain(pdns.apiKey);

    const port = target.port;
    const check = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 800,
        http: { url: `http://127.0.0.1:${port}/` },
      }),
    });
    expect(check.status, await check.clone().text()).toBe(201);
    await eventually("web up in every region", async () => {
      const s = (await (await cp.request("/v1/checks/web/status")).json()) as {
        state: string;
        regions?: Record<string, { state: string }>;
      };
      return s.state === "up" && REGIONS.every((r) => s.regions?.[r]?.state === "up");
    });

    // Before any outage: the primary serves all traffic and DNS answers the primary address.
    expect(inMaint(await primaryState())).toBe(false);
    expect(new Set(await servedBy())).toEqual(new Set(["primary"]));
    expect(await dig()).toBe(PRIMARY);
  });

  let outageId = "";
  it("target fails in every region -> consensus outage -> HAProxy primary in maint (traffic on backup), DNS on the standby", async () => {
    const failedAt = Date.now();
    target.healthy = false;
    await eventually("HAProxy primary in maint (read over the runtime socket)", async () =>
      inMaint(await primaryState()),
    );
    timings.failToHaproxyMaint = Date.now() - failedAt;
    // Real traffic: every request through the frontend now reaches the backup.
    expect(await servedBy()).toEqual(Array<string>(TRAFFIC_SAMPLES).fill("backup"));
    await eventually("PowerDNS to answer the standby", async () => (await dig()) === STANDBY);
    timings.failToDnsStandby = Date.now() - failedAt;

    // The actions came from a consensus outage, which the API shows as open.
    const outages = (await (await cp.request("/v1/outages?checkId=web&state=open")).json()) as {
      id: string;
      kind: string;
      startedAt: number;
    }[];
    const outage = outages.find((o) => o.kind === "outage");
    expect(outage, JSON.stringify(outages)).toBeDefined();
    expect(outage!.startedAt).toBeGreaterThanOrEqual(failedAt - 1000);
    outageId = outage!.id;

    // The failover holds while the outage lasts: the primary stays out, DNS stays on the standby.
    await new Promise((r) => setTimeout(r, 2000));
    expect(inMaint(await primaryState())).toBe(true);
    expect(await dig()).toBe(STANDBY);
  });

  it("target back -> recovery confirmed -> HAProxy primary ready (traffic on primary), DNS on the primary", async () => {
    // Starts from the failover the outage caused, so the failback below is a real change.
    expect(inMaint(await primaryState())).toBe(true);
    expect(await dig()).toBe(STANDBY);
    const backAt = Date.now();
    target.healthy = true;
    await eventually("HAProxy primary ready again (read over the runtime socket)", async () => {
      const s = await primaryState();
      return !inMaint(s) && s.opState === 2;
    });
    timings.recoverToHaproxyReady = Date.now() - backAt;
    expect(new Set(await servedBy())).toEqual(new Set(["primary"]));
    await eventually("PowerDNS to answer the primary", async () => (await dig()) === PRIMARY);
    timings.recoverToDnsPrimary = Date.now() - backAt;
    const open = (await (await cp.request("/v1/outages?checkId=web&state=open")).json()) as { id: string }[];
    expect(open.map((o) => o.id)).not.toContain(outageId);
  });

  it("the delivery log of each hook records both actions, applied and verified by reading the target back", async () => {
    expect(outageId).toBeTruthy();
    const opened = `${outageId}:outage.opened`;
    const resolved = `${outageId}:outage.resolved`;
    // The log record is written before the message is acked, so it is there once the action is visible.
    const logs = await eventually(
      "both deliveries logged for both hooks",
      async () => {
        const [lb, dns] = await Promise.all([deliveries("lb"), deliveries("dns")]);
        const done = (l: DeliveryRecord[]) =>
          [opened, resolved].every((id) => l.some((r) => r.eventId === id && r.outcome === "delivered"));
        return done(lb) && done(dns) ? { lb, dns } : undefined;
      },
      15_000,
    );
    const expected = {
      lb: {
        failoverAction: `set server ${BACKEND}/primary state maint`,
        failbackAction: `set server ${BACKEND}/primary state ready`,
        failoverObserved: `${BACKEND}/primary maint`,
        failbackObserved: `${BACKEND}/primary ready`,
      },
      dns: {
        failoverAction: `PATCH zone ${ZONE}: ${NAME} A = ${STANDBY}`,
        failbackAction: `PATCH zone ${ZONE}: ${NAME} A = ${PRIMARY}`,
        failoverObserved: `${NAME} A ${STANDBY}`,
        failbackObserved: `${NAME} A ${PRIMARY}`,
      },
    };
    for (const hookId of ["lb", "dns"] as const) {
      const log = logs[hookId];
      const delivered = log.filter((r) => r.outcome === "delivered");
      // Only this outage's two transitions were applied, failover first. (Delivery is at-least-once,
      // so a redelivery could in principle log a transition twice; the first of each is checked.)
      expect([...new Set(delivered.map((r) => r.eventId))], JSON.stringify(log)).toEqual([opened, resolved]);
      const failover = delivered.find((r) => r.eventId === opened)!;
      const failback = delivered.find((r) => r.eventId === resolved)!;
      expect(failover).toMatchObject({
        hookId,
        checkId: "web",
        eventType: "outage.opened",
        deliveryId: `${opened}:${hookId}`,
        result: { ok: true, verified: true },
      });
      expect(failback).toMatchObject({
        hookId,
        checkId: "web",
        eventType: "outage.resolved",
        deliveryId: `${resolved}:${hookId}`,
        result: { ok: true, verified: true },
      });
      expect(failover.result?.action).toEqual(expected[hookId].failoverAction);
      expect(failback.result?.action).toEqual(expected[hookId].failbackAction);
      expect(failover.result?.observed).toEqual(expected[hookId].failoverObserved);
      expect(failback.result?.observed).toEqual(expected[hookId].failbackObserved);
      expect(failback.at).toBeGreaterThan(failover.at);
      // Nothing was refused or given up along the way (a retried attempt would show as "failed" first).
      expect(
        log.filter((r) => r.outcome === "refused" || r.outcome === "gave_up"),
        JSON.stringify(log),
      ).toEqual([]);
    }
    // The API key never shows in the log.
    expect(JSON.stringify(logs)).not.toContain(pdns.apiKey);
  });
});
