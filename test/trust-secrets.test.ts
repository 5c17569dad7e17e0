// Secrets at rest, through the built control plane on real NATS and ClickHouse: hook credentials,
// check secret headers, bodies and URL query values never reach NATS KV in clear; API answers mask
// them; an agent of the check's region receives them in clear; a key rotation re-seals them at
// start; forged hook queue messages (unknown hook, unknown check) are dead-lettered, not run.
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AgentService,
  createGrpcClient,
  WatchAssignmentsRequestSchema,
  type Check,
  type WatchAssignmentsResponse,
} from "@probemesh/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { enrollAgent, SECRET_KEY, startControlPlane, type ControlPlane } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { waitFor } from "./harness/process.js";

// Every secret carries this marker, so one search finds any of them left in clear.
const MARK = `plain${randomBytes(4).toString("hex")}`;
const HOOK_SECRET = `whsec_${Buffer.from(`${MARK}-webhook-signing-key!`).toString("base64")}`;
const TSIG = Buffer.from(`${MARK}-tsig-key-bytes`).toString("base64");
const SECRETS = {
  hookUrlToken: `${MARK}hooktok`,
  pdnsKey: `${MARK}-pdns-api-key`,
  routingKey: `${MARK}routing`,
  header: `Bearer ${MARK}-header`,
  body: `{"password":"${MARK}-body"}`,
  urlToken: `${MARK}urltok`,
  metadata: `${MARK}-grpc-md`,
};

let nats: NatsServer;
let ch: ClickHouseServer;
let cp: ControlPlane;
let nc: NatsConnection;
let jsm: JetStreamManager;

/** Every message of every KV bucket's stream, as text: what a NATS reader of the buckets sees. */
async function rawKv(): Promise<string> {
  const out: string[] = [];
  for await (const si of jsm.streams.list()) {
    if (!si.config.name.startsWith("KV_")) continue;
    for (let seq = si.state.first_seq; seq <= si.state.last_seq && si.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(si.config.name, { seq }).catch(() => null);
      if (m) out.push(`${si.config.name} ${m.subject} ${m.string()}`);
    }
  }
  return out.join("\n");
}

async function json(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as Record<string, unknown>;
}

async function deadLetter(reason: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(`a dead letter (${reason})`, async () => {
    const m = await jsm.streams
      .getMessage("PROBEMESH_HOOK_DEAD_LETTERS", { last_by_subj: `probemesh.hooks.dead.${reason}` })
      .catch(() => null);
    if (m) found = m.json<Record<string, unknown>>();
    return found !== undefined;
  });
  return found ?? {};
}

/** Agent tokens by region, enrolled on first use. */
const tokens: Record<string, string> = {};

/** The first assignment snapshot an agent of `region` gets. */
async function snapshot(region: string): Promise<Check[]> {
  const client = createGrpcClient(AgentService, cp.grpcAddr, credentials.createInsecure());
  const token = (tokens[region] ??= await enrollAgent(cp, { id: `agent-${region}`, region }));
  const md = new Metadata();
  md.set("authorization", `Bearer ${token}`);
  const call = client.watchAssignments(
    create(WatchAssignmentsRequestSchema, {
      agent: { id: `agent-${region}`, region, provider: "test", version: "0.0.0-test", capabilities: ["http", "grpc"] },
    }),
    md,
  );
  try {
    return await new Promise<Check[]>((resolve, reject) => {
      call.on("data", (msg: WatchAssignmentsResponse) => {
        if (msg.event.case === "snapshot") resolve(msg.event.value.checks);
      });
      call.on("error", (e: ServiceError) => reject(e));
      setTimeout(() => reject(new Error("no snapshot within 10 s")), 10_000).unref();
    });
  } finally {
    call.cancel();
    client.close();
  }
}

beforeAll(async () => {
  [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
  cp = await startControlPlane({ natsUrl: nats.url, clickhouseUrl: ch.url, database: "pm_trust_secrets" });
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await cp?.stop();
  await Promise.all([nats?.stop(), ch?.stop()]);
});

describe("secrets at rest", () => {
  it("keeps hook and check secrets out of NATS KV, masks them in answers, gives them to agents of the region", async () => {
    const swap = { zone: "example.test.", name: "www.example.test.", primary: ["10.0.0.1"], standby: ["10.0.0.2"] };
    const hooks = [
      {
        id: "wh",
        type: "webhook",
        url: `http://127.0.0.1:9/hook?token=${SECRETS.hookUrlToken}`,
        secret: HOOK_SECRET,
        checks: ["web"],
      },
      {
        id: "pdns",
        type: "powerdns",
        url: "http://127.0.0.1:9/",
        checks: ["web"],
        dryRun: true,
        powerdns: { ...swap, verifyServer: "127.0.0.1:53", apiKey: SECRETS.pdnsKey },
      },
      {
        id: "tsig",
        type: "rfc2136",
        checks: ["web"],
        dryRun: true,
        rfc2136: { ...swap, server: "127.0.0.1:53", tsig: { name: "k1", secret: TSIG } },
      },
      { id: "pd", type: "pagerduty", url: "http://127.0.0.1:9/pd", pagerduty: { routingKey: SECRETS.routingKey } },
    ];
    for (const h of hooks) {
      const body = await json(await cp.request("/v1/hooks", { method: "POST", body: JSON.stringify(h) }), 201);
      expect(JSON.stringify(body)).not.toContain(MARK);
    }
    const web = {
      id: "web",
      type: "http",
      intervalMs: 60_000,
      regions: ["eu-west"],
      http: {
        url: `http://127.0.0.1:9/health?token=${SECRETS.urlToken}&v=1`,
        method: "POST",
        headers: { Authorization: SECRETS.header },
        body: SECRETS.body,
      },
    };
    const created = await json(await cp.request("/v1/checks", { method: "POST", body: JSON.stringify(web) }), 201);
    expect(created.http).toMatchObject({ url: "http://127.0.0.1:9/health?token=***&v=***" });
    const grpcCheck = {
      id: "rpc",
      type: "grpc",
      grpc: { address: "127.0.0.1:9", metadata: { token: SECRETS.metadata } },
    };
    await json(await cp.request("/v1/checks", { method: "POST", body: JSON.stringify(grpcCheck) }), 201);

    // Raw KV: sealed envelopes under the configured key, never the values.
    const raw = await rawKv();
    expect(raw).toContain("KV_probemesh_hooks");
    expect(raw).toContain("KV_probemesh_checks");
    expect(raw).not.toContain(MARK);
    expect(raw).not.toContain(HOOK_SECRET.slice("whsec_".length));
    expect(raw).not.toContain(TSIG);
    expect(raw).toContain("?token=pmenc:v1:test:");

    // Every answer that shows them masks them.
    for (const path of [
      "/v1/checks",
      "/v1/checks/web",
      "/v1/checks/rpc",
      "/v1/hooks",
      "/v1/hooks/wh",
      "/v1/hooks/pd",
    ]) {
      const text = await (await cp.request(path)).text();
      expect(text, path).not.toContain(MARK);
    }
    const hookList = (await json(await cp.request("/v1/hooks/wh"), 200)) as { url?: string; secret?: string };
    expect(hookList).toMatchObject({ url: "http://127.0.0.1:9/hook?token=***", secret: "whsec_***" });

    // A GET body PUT back keeps the stored secrets (the masks are not stored).
    const got = await json(await cp.request("/v1/checks/web"), 200);
    const put = await json(
      await cp.request("/v1/checks/web", { method: "PUT", body: JSON.stringify({ ...got, intervalMs: 30_000 }) }),
      200,
    );
    expect(JSON.stringify(put)).not.toContain(MARK);

    // The agent of the check's region gets the clear values; another region's agent gets no such check.
    const eu = (await snapshot("eu-west")).find((c) => c.id === "web");
    expect(eu?.http?.headers.Authorization).toBe(SECRETS.header);
    expect(eu?.http?.body).toBe(SECRETS.body);
    expect(eu?.http?.url).toBe(web.http.url);
    expect(eu?.intervalMs).toBe(30_000);
    const us = await snapshot("us-east");
    expect(us.map((c) => c.id)).toEqual(["rpc"]);
    expect(us[0]?.grpc?.metadata.token).toBe(SECRETS.metadata);
    expect(await rawKv()).not.toContain(MARK);
  }, 60_000);

  it("dead-letters forged queue messages for an unknown hook or an unknown check, running nothing", async () => {
    const js = jetstream(nc);
    const event = (checkId: string) => ({
      id: `forged-${checkId}-${Date.now()}`,
      type: "outage.opened",
      timestamp: new Date().toISOString(),
      data: { checkId, state: "down", regions: {} },
    });
    await js.publish(
      "probemesh.hooks.deliver.ghost",
      JSON.stringify({ hookId: "ghost", event: event("web"), enqueuedAt: Date.now() }),
    );
    const ghost = await deadLetter("unknown_hook");
    expect(ghost).toMatchObject({ reason: "unknown_hook", subject: "probemesh.hooks.deliver.ghost" });

    await js.publish(
      "probemesh.hooks.deliver.pdns",
      JSON.stringify({ hookId: "pdns", event: event("invented"), enqueuedAt: Date.now() }),
    );
    const unknownCheck = await deadLetter("unknown_check");
    expect(unknownCheck).toMatchObject({ reason: "unknown_check", subject: "probemesh.hooks.deliver.pdns" });

    await js.publish(
      "probemesh.hooks.deliver.pdns",
      JSON.stringify({ hookId: "wh", event: event("web"), enqueuedAt: Date.now() }),
    );
    await deadLetter("subject_mismatch");

    await js.publish("probemesh.hooks.deliver.pdns", "not json");
    await deadLetter("malformed");

    // Terminated, not waiting for a retry; and nothing was attempted for the forged messages.
    await waitFor("the queue drained", async () => {
      const ci = await jsm.consumers.info("PROBEMESH_HOOK_DELIVERIES", "hook-deliveries");
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    });
    const deliveries = (await json(await cp.request("/v1/hooks/pdns/deliveries"), 200)) as unknown as unknown[];
    expect(deliveries).toEqual([]);
  }, 60_000);

  it("re-seals every secret with a new first key at start; the old key can then go", async () => {
    const next = `next:${randomBytes(32).toString("base64")}`;
    await cp.stop();
    cp = await startControlPlane({
      natsUrl: nats.url,
      clickhouseUrl: ch.url,
      database: "pm_trust_secrets",
      env: { PROBEMESH_SECRET_KEY: `${next},${SECRET_KEY}` },
    });
    await waitFor("every envelope under the new key", async () => {
      const raw = await rawKv();
      return !raw.includes("pmenc:v1:test:") && raw.includes("pmenc:v1:next:");
    });
    expect(await rawKv()).not.toContain(MARK);

    await cp.stop();
    cp = await startControlPlane({
      natsUrl: nats.url,
      clickhouseUrl: ch.url,
      database: "pm_trust_secrets",
      env: { PROBEMESH_SECRET_KEY: next },
    });
    const eu = (await snapshot("eu-west")).find((c) => c.id === "web");
    expect(eu?.http?.headers.Authorization).toBe(SECRETS.header);
    const hooks = (await json(await cp.request("/v1/hooks"), 200)) as unknown as { id: string }[];
    expect(hooks.map((h) => h.id)).toEqual(["pd", "pdns", "tsig", "wh"]);
  }, 120_000);
});
