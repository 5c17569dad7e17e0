// Failover actions through the whole hooks path (API -> NATS KV registry -> publish -> JetStream
// work queue -> delivery worker -> adapter) against real servers: HAProxy really sends traffic to
// the backup while the primary is in maintenance, PowerDNS and BIND really answer the standby
// address during the outage and the primary again after it.
import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createHooks,
  createHooksApi,
  createSecretBox,
  type DeliveryRecord,
  type Hooks,
  parseKeyRing,
  requireHooksToken,
  verifyWebhook,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBind, type BindServer } from "../harness/bind.js";
import { startHaproxy, type HaproxyServer } from "../harness/haproxy.js";
import { startNats, type NatsServer } from "../harness/nats.js";
import { SECRET_KEY } from "../harness/mesh.js";
import { waitFor } from "../harness/process.js";
import { startPowerdns, type PowerdnsServer } from "../harness/powerdns.js";
import { outageEvent, startReceiver, type Receiver } from "./receiver.js";

const TOKEN = "hooks-test-token";
const PRIMARY = "10.10.0.1";
const STANDBY = "10.20.0.1";

let nats: NatsServer;
let nc: NatsConnection;
let hooks: Hooks;
let haproxy: HaproxyServer;
let pdns: PowerdnsServer;
let bind: BindServer;
let rcv: Receiver;
const backends: Server[] = [];
let api: ReturnType<typeof createHooksApi>;
let webhookSecret = "";

async function backend(name: string): Promise<number> {
  const s = createServer((_req, res) => res.end(name));
  backends.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const a = s.address();
  return typeof a === "object" && a ? a.port : 0;
}

function dig(addr: string): string {
  const [host, port] = addr.split(":");
  return execFileSync(
    "dig",
    [`@${host}`, "-p", String(port), "www.example.test.", "A", "+short", "+norecurse", "+time=2", "+tries=1"],
    { encoding: "utf8" },
  ).trim();
}

async function servedBy(): Promise<string> {
  const res = await fetch(haproxy.url);
  return await res.text();
}

/** Calls the hooks API as mounted under /v1/hooks. */
async function call(method: string, path: string, body?: unknown): Promise<Response> {
  return await api.request(path.replace(/^\/v1\/hooks/, "") || "/", {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function deliveries(id: string): Promise<DeliveryRecord[]> {
  return (await (await call("GET", `/v1/hooks/${id}/deliveries`)).json()) as DeliveryRecord[];
}

beforeAll(async () => {
  nats = await startNats();
  const [p, s] = [await backend("primary"), await backend("standby")];
  [haproxy, pdns, bind, rcv] = await Promise.all([
    startHaproxy({ backend: "be_web", servers: { primary: `127.0.0.1:${p}`, standby: `127.0.0.1:${s} backup` } }),
    startPowerdns({ records: { www: [PRIMARY] } }),
    startBind({ records: { www: [PRIMARY] } }),
    startReceiver(),
  ]);
  nc = await connect({ servers: nats.url });
  const log = pino({ level: "silent" });
  hooks = createHooks({
    nc,
    log,
    secrets: createSecretBox(parseKeyRing(SECRET_KEY).ring),
    options: { backoff: { initialMs: 200, maxMs: 1000 }, ackWaitMs: 5000, heartbeatMs: 1000, fetchExpiresMs: 1000 },
  });
  api = createHooksApi({ hooks, log, auth: requireHooksToken(TOKEN) });
  const swap = { zone: "example.test.", name: "www.example.test.", ttl: 5, primary: [PRIMARY], standby: [STANDBY] };
  const created = await Promise.all([
    call("POST", "/v1/hooks", {
      id: "lb",
      type: "haproxy",
      checks: ["web"],
      haproxy: { socket: haproxy.socket, backend: "be_web", server: "primary" },
    }),
    call("POST", "/v1/hooks", {
      id: "pdns",
      type: "powerdns",
      url: pdns.apiUrl,
      checks: ["web"],
      powerdns: { ...swap, apiKey: pdns.apiKey, verifyServer: pdns.dnsAddr },
    }),
    call("POST", "/v1/hooks", {
      id: "ddns",
      type: "rfc2136",
      checks: ["web"],
      rfc2136: { ...swap, server: bind.addr, tsig: bind.tsig },
    }),
    call("POST", "/v1/hooks", {
      id: "notify",
      type: "webhook",
      url: rcv.url,
      checks: ["web"],
      events: ["outage.opened", "outage.resolved"],
    }),
  ]);
  for (const r of created) expect(r.status).toBe(201);
  webhookSecret = String(((await created[3]?.json()) as { secret: string }).secret);
  await hooks.start();
}, 120_000);

afterAll(async () => {
  await hooks?.stop();
  await nc?.close();
  await Promise.all([haproxy?.dispose(), pdns?.dispose(), bind?.dispose(), rcv?.close(), nats?.dispose()]);
  for (const s of backends) s.close();
});

describe("failover actions end to end on real servers", () => {
  it("an outage moves HAProxy traffic to the backup and DNS to the standby; its end moves them back", async () => {
    expect(await servedBy()).toBe("primary");
    expect(dig(pdns.dnsAddr)).toBe(PRIMARY);
    expect(dig(bind.addr)).toBe(PRIMARY);

    const t0 = Date.now();
    await hooks.publish(outageEvent("outage.opened", { outageId: "o-e2e", at: t0 }));
    await waitFor("HAProxy to serve from the backup", async () => (await servedBy()) === "standby", 15_000);
    await waitFor("PowerDNS to answer the standby", () => dig(pdns.dnsAddr) === STANDBY, 15_000);
    await waitFor("BIND to answer the standby", () => dig(bind.addr) === STANDBY, 15_000);
    const failoverMs = Date.now() - t0;
    expect(
      (await haproxy.command("show servers state be_web"))
        .split("\n")
        .find((l) => l.includes(" primary "))
        ?.split(" ")[6],
    ).toBe("1");
    for (const id of ["lb", "pdns", "ddns"]) {
      const log = await waitFor(`${id} delivered`, async () => {
        const l = await deliveries(id);
        return l.some((r) => r.outcome === "delivered") ? l : undefined;
      });
      expect(log.at(-1)).toMatchObject({
        eventId: "o-e2e:outage.opened",
        outcome: "delivered",
        result: { ok: true, verified: true },
      });
    }
    // The notification hook got exactly one signed outage.opened.
    await waitFor("webhook", () => rcv.received.length === 1, 10_000);
    const got = rcv.received[0];
    expect(verifyWebhook<{ type: string }>(webhookSecret, got?.headers ?? {}, got?.body ?? "").type).toBe(
      "outage.opened",
    );

    const t1 = Date.now();
    await hooks.publish(outageEvent("outage.resolved", { outageId: "o-e2e", at: t1 }));
    await waitFor("HAProxy to serve from the primary again", async () => (await servedBy()) === "primary", 15_000);
    await waitFor("PowerDNS to answer the primary", () => dig(pdns.dnsAddr) === PRIMARY, 15_000);
    await waitFor("BIND to answer the primary", () => dig(bind.addr) === PRIMARY, 15_000);
    const failbackMs = Date.now() - t1;
    await waitFor("second webhook", () => rcv.received.length === 2, 10_000);
    expect(new Set(rcv.received.map((r) => r.headers["webhook-id"]))).toEqual(
      new Set(["o-e2e:outage.opened:notify", "o-e2e:outage.resolved:notify"]),
    );
    // Publish -> every action applied and verified, on this 2-core machine.
    expect(failoverMs).toBeLessThan(10_000);
    expect(failbackMs).toBeLessThan(10_000);
  });

  it("a late, older event never undoes a newer transition on traffic-changing hooks", async () => {
    const t = Date.now();
    await hooks.publish(outageEvent("outage.opened", { outageId: "o-late", at: t }));
    await waitFor("failover", async () => (await servedBy()) === "standby", 15_000);
    // A resolve stamped before the failover (e.g. retried from an older outage) arrives now.
    await hooks.publish(outageEvent("outage.resolved", { outageId: "o-older", at: t - 60_000 }));
    await waitFor(
      "superseded",
      async () =>
        (await deliveries("lb")).some((r) => r.eventId === "o-older:outage.resolved" && r.outcome === "superseded"),
      10_000,
    );
    expect(await servedBy()).toBe("standby");
    expect(dig(bind.addr)).toBe(STANDBY);
    await hooks.publish(outageEvent("outage.resolved", { outageId: "o-late", at: t + 1 }));
    await waitFor("failback", async () => (await servedBy()) === "primary", 15_000);
    await waitFor("BIND failback", () => dig(bind.addr) === PRIMARY, 15_000);
  });

  it("the test endpoint reads the action targets back without changing them", async () => {
    const res = await call("POST", "/v1/hooks/lb/test");
    expect(res.status).toBe(202);
    const { eventId } = (await res.json()) as { eventId: string };
    const rec = await waitFor(
      "test delivery",
      async () => (await deliveries("lb")).find((r) => r.eventId === eventId && r.outcome === "delivered"),
      10_000,
    );
    expect(rec.result?.observed).toMatch(/be_web\/primary ready/);
    expect(await servedBy()).toBe("primary");
  });

  it("refuses to switch DNS to a standby whose own check is down (fail open), recorded in the log", async () => {
    // Round-trip the hook through GET and PUT: the masked TSIG secret keeps the stored one.
    const shown = (await (await call("GET", "/v1/hooks/ddns")).json()) as { rfc2136: Record<string, unknown> };
    expect(JSON.stringify(shown)).not.toContain(bind.tsig.secret);
    const put = await call("PUT", "/v1/hooks/ddns", {
      ...shown,
      rfc2136: { ...shown.rfc2136, standbyCheckId: "web-standby" },
    });
    expect(put.status).toBe(200);
    // Later than every transition the previous tests applied.
    const t = Date.now() + 1000;
    await hooks.publish({ ...outageEvent("outage.opened", { outageId: "o-standby", checkId: "web-standby", at: t }) });
    await hooks.publish(outageEvent("outage.opened", { outageId: "o-both", at: t + 100 }));
    const rec = await waitFor(
      "refusal",
      async () => (await deliveries("ddns")).find((r) => r.eventId === "o-both:outage.opened"),
      10_000,
    );
    expect(rec.outcome).toBe("refused");
    expect(rec.error).toMatch(/standby check web-standby is down.*fail open/);
    await waitFor("HAProxy still fails over", async () => (await servedBy()) === "standby", 15_000);
    expect(dig(bind.addr)).toBe(PRIMARY);
    await hooks.publish(outageEvent("outage.resolved", { outageId: "o-both", at: t + 200 }));
    await waitFor("failback", async () => (await servedBy()) === "primary", 15_000);
    expect(dig(bind.addr)).toBe(PRIMARY);
  });
});
