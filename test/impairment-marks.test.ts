// Impairment shared across partitions and replicas: an agent whose canary is confirmed down in one
// partition abstains in the checks of every other partition (through the probemesh_impairment KV
// bucket), here one decided by another replica, so its failures there open no partial; once its
// canary works again the mark is gone.
// Results are published as agents that know partitions publish them (5-token subjects).
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ProbeState, partitionOf } from "@probemesh/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { enrollAgent, startControlPlane, waitFor, type ControlPlane } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { publishResult } from "./harness/publish-result.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const BROKEN = "eu-west";
const PARTITIONS = 8;
const INTERVAL_MS = 1000;
/** Rounds come faster than the interval: the engine takes results by their start, the test stays short. */
const ROUND_PAUSE_MS = 300;
const DEADLINE_MS = 30_000;

interface Status {
  state: string;
  outage: unknown;
  regions: Record<string, { state: string; impaired: boolean; impairedReason: string }>;
}

describe("impairment marks across partitions", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  let other: ControlPlane;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let marks: KV;
  let leases: KV;
  /** Check id → partition. */
  const partition = new Map<string, number>();
  let web = "";
  let seq = 0;

  beforeAll(async () => {
    [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
    const replica = (id: string) =>
      startControlPlane({
        natsUrl: nats.url,
        clickhouseUrl: ch.url,
        database: "pm_impair",
        env: { PROBEMESH_PARTITIONS: String(PARTITIONS), PROBEMESH_REPLICA_ID: id },
      });
    cp = await replica("replica-0");
    other = await replica("replica-1");
    for (const region of REGIONS) await enrollAgent(cp, { id: `agent-${region}`, region });
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    leases = await new Kvm(nc).open("probemesh_leases");
    // Balanced (fair share: half each), so no lease moves while the test runs.
    await eventually("both replicas hold half the partitions", async () => {
      const o = await owners();
      const held = (r: string) => o.filter((x) => x === r).length;
      return held("replica-0") === PARTITIONS / 2 && held("replica-1") === PARTITIONS / 2;
    });
    await create("canary", true);
    // A normal check in a partition the other replica decides (uids are random: about 1 in 2 is).
    for (let i = 0; web === ""; i++) {
      if (i === 16) throw new Error("no check landed in a partition of the other replica");
      const id = `web-${i}`;
      await create(id, false);
      const o = await owners();
      if (o[partition.get(id)!] !== o[partition.get("canary")!]) web = id;
    }
    marks = await new Kvm(nc).open("probemesh_impairment");
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await Promise.all([cp?.stop(), other?.stop()]);
    await Promise.all([nats?.dispose(), ch?.dispose()]);
  });

  /** The owner of each partition, from the lease bucket. */
  async function owners(): Promise<(string | undefined)[]> {
    return Promise.all(
      Array.from({ length: PARTITIONS }, async (_, p) => {
        const e = await leases.get(`partition.${p}`);
        return e && e.operation === "PUT" && e.length > 0 ? e.json<{ owner: string }>().owner : undefined;
      }),
    );
  }

  async function create(id: string, canary: boolean): Promise<void> {
    const res = await cp.request("/v1/checks", {
      method: "POST",
      body: JSON.stringify({
        id,
        type: "tcp",
        intervalMs: INTERVAL_MS,
        timeoutMs: 200,
        regions: [...REGIONS],
        canary,
        tcp: { host: "127.0.0.1", port: 1 },
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    partition.set(id, partitionOf(((await res.json()) as { uid: string }).uid, PARTITIONS));
  }

  /** One result per region for each check given; `down` lists the checks the broken agent fails. */
  async function round(checks: string[], down: string[]): Promise<void> {
    await Promise.all(
      checks.flatMap((checkId) =>
        REGIONS.map((region) => {
          const failing = region === BROKEN && down.includes(checkId);
          return publishResult(js, {
            checkId,
            region,
            partition: partition.get(checkId)!,
            state: failing ? ProbeState.DOWN : ProbeState.UP,
            ...(failing ? { reason: "dns", message: "lookup failed" } : {}),
            canary: checkId === "canary",
            seq: ++seq,
          });
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
  }

  const status = async (id: string): Promise<Status> => {
    const res = await cp.request(`/v1/checks/${id}/status`);
    expect(res.status).toBe(200);
    return (await res.json()) as Status;
  };

  const markKey = (): string => `agent-${BROKEN}.p${partition.get("canary")}`;
  const markOf = async (): Promise<{ reason: string } | undefined> => {
    const e = await marks.get(markKey());
    return e && e.operation === "PUT" && e.length > 0 ? e.json<{ reason: string }>() : undefined;
  };

  async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    try {
      return await waitFor(what, fn, DEADLINE_MS, 50);
    } catch (err) {
      throw new Error(
        `${String(err)}\n--- replica-0 ---\n${cp.proc.output().slice(-4000)}\n--- replica-1 ---\n${other?.proc.output().slice(-4000)}`,
      );
    }
  }

  it("a canary down in one partition makes the agent abstain in another's check; canary back, the mark goes", async () => {
    const both = ["canary", web];
    await eventually("both checks up", async () => {
      await round(both, []);
      return (await status("canary")).state === "up" && (await status(web)).state === "up";
    });

    // The agent's DNS breaks: its canary fails first, then (its own network still broken) the web check.
    const mark = await eventually("the impairment mark", async () => {
      await round(both, ["canary"]);
      return markOf();
    });
    expect(mark.reason).toContain('canary check "canary" failing (dns)');
    await eventually(`${BROKEN} impaired in ${web}'s partition`, async () => {
      await round(both, ["canary"]);
      return (await status(web)).regions[BROKEN]?.impaired;
    });
    const seen = new Set<string>();
    for (let k = 0; k < 8; k++) {
      await round(both, both);
      seen.add((await status(web)).state);
    }
    // Without the shared mark, the broken agent's failures made this check partial within a few rounds.
    expect([...seen]).toEqual(["up"]);
    const region = (await status(web)).regions[BROKEN]!;
    expect(region).toMatchObject({ state: "unknown", impaired: true });
    expect(region.impairedReason).toContain(`impaired in partition ${partition.get("canary")}`);
    expect((await status(web)).outage).toBeNull();
    // Both replicas tell the same of the agent, the one not deciding the canary's partition included.
    for (const replica of [cp, other]) {
      const agents = (await (await replica.request("/v1/agents")).json()) as { id: string; impaired?: boolean }[];
      expect(agents.find((a) => a.id === `agent-${BROKEN}`)).toMatchObject({ impaired: true });
    }

    // DNS fixed: the canary recovers, the mark is deleted, and the agent votes again in the web check.
    await eventually("the mark deleted", async () => {
      await round(both, []);
      return (await markOf()) === undefined;
    });
    await eventually(`${BROKEN} voting in ${web} again`, async () => {
      await round(both, []);
      const r = (await status(web)).regions[BROKEN];
      return r && !r.impaired && r.state === "up";
    });
    expect((await status(web)).state).toBe("up");
  }, 120_000);
});
