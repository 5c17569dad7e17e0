// Decisions do not wait on storage: with ClickHouse frozen (SIGSTOP), a check that goes down still
// opens its outage and the webhook hears of it, because each partition's decider reads its results
// straight from JetStream. Once ClickHouse runs again, ingest stores every result published meanwhile.
// Results are published as agents that know partitions publish them (5-token subjects).
import { toBinary } from "@bufbuild/protobuf";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ProbeResultSchema, ProbeState, partitionOf, resultSubject } from "@probemesh/proto";
import { probeResultFixture } from "@probemesh/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { enrollAgent, startControlPlane, waitFor, type ControlPlane } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const PARTITIONS = 8;
const INTERVAL_MS = 1000;
/** Generous: a loaded CI box; the latency is printed, never asserted. */
const DEADLINE_MS = 60_000;

describe("decisions on the stream", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let feed: Receiver;
  let uid = "";
  let seq = 0;
  const published: string[] = [];

  beforeAll(async () => {
    [nats, ch, feed] = await Promise.all([startNats(), startClickHouse(), startReceiver()]);
    cp = await startControlPlane({
      natsUrl: nats.url,
      clickhouseUrl: ch.url,
      database: "pm_decide",
      env: { PROBEMESH_PARTITIONS: String(PARTITIONS) },
    });
    for (const region of REGIONS) await enrollAgent(cp, { id: `agent-${region}`, region });
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    await post("/v1/hooks", { id: "feed", type: "webhook", url: feed.url });
    const check = (await (
      await post("/v1/checks", {
        id: "web",
        type: "tcp",
        intervalMs: INTERVAL_MS,
        timeoutMs: 500,
        regions: [...REGIONS],
        tcp: { host: "127.0.0.1", port: 1 },
      })
    ).json()) as { uid: string };
    uid = check.uid;
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await cp?.stop();
    await Promise.all([nats?.dispose(), ch?.dispose(), feed?.close()]);
  });

  async function post(path: string, body: unknown): Promise<Response> {
    const res = await cp.request(path, { method: "POST", body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(201);
    return res;
  }

  async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    try {
      return await waitFor(what, fn, DEADLINE_MS, 100);
    } catch (err) {
      throw new Error(`${String(err)}\n--- control-plane ---\n${cp.proc.output().slice(-6000)}`);
    }
  }

  /** One result per region, on the check's partition subject, as an agent that knows partitions sends it. */
  async function round(state: ProbeState): Promise<void> {
    const partition = partitionOf(uid, PARTITIONS);
    await Promise.all(
      REGIONS.map(async (region) => {
        const agentId = `agent-${region}`;
        const r = probeResultFixture({
          id: `web-${region}-${++seq}`,
          checkId: "web",
          checkVersion: 1,
          agentId,
          region,
          startedAtMs: BigInt(Date.now()),
          durationMs: 3,
          state,
          reason: state === ProbeState.DOWN ? "connect" : "",
          message: state === ProbeState.DOWN ? "connection refused" : "",
          seq: BigInt(seq),
          target: "127.0.0.1:1",
        });
        await js.publish(resultSubject(region, agentId, partition), toBinary(ProbeResultSchema, r), { msgID: r.id });
        published.push(r.id);
      }),
    );
  }

  const state = async (): Promise<string> => {
    const res = await cp.request("/v1/checks/web/status");
    return res.status === 200 ? ((await res.json()) as { state: string }).state : `http ${res.status}`;
  };

  const openedAtFeed = (): boolean =>
    feed.received.some((r) => {
      const e = JSON.parse(r.body) as { type: string; data: { checkId: string } };
      return e.type === "outage.opened" && e.data.checkId === "web";
    });

  it("opens an outage and notifies while ClickHouse is frozen, and stores every result once it runs again", async () => {
    // Up first, with everything running.
    await eventually("web up", async () => {
      await round(ProbeState.UP);
      await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
      return (await state()) === "up";
    });

    const pid = ch.proc.child.pid!;
    process.kill(pid, "SIGSTOP");
    try {
      const downAt = Date.now();
      await eventually("outage.opened at the webhook while ClickHouse is stopped", async () => {
        await round(ProbeState.DOWN);
        await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
        return openedAtFeed();
      });
      const latency = Date.now() - downAt;
      process.stdout.write(
        `decisions-on-stream: outage.opened delivered ${latency} ms after the first down result, ClickHouse stopped\n`,
      );
      expect(await state()).toBe("down");
      // ClickHouse really was away: nothing could have been read from or written to it.
      const ping = await fetch(`${ch.url}/ping`, { signal: AbortSignal.timeout(500) }).catch(() => undefined);
      expect(ping).toBeUndefined();
    } finally {
      process.kill(pid, "SIGCONT");
    }

    // Every result published, the ones of the frozen time included, ends up stored.
    const expected = new Set(published);
    const stored = await eventually("every result stored after SIGCONT", async () => {
      const rows = await ch.rows<{ n: string }>(
        "SELECT uniqExact(id) AS n FROM pm_decide.results WHERE check_id = 'web'",
      );
      return Number(rows[0]?.n ?? 0) >= expected.size ? Number(rows[0]?.n) : undefined;
    });
    expect(stored).toBe(expected.size);
    // The incident reaches ClickHouse too (saved in the background, retried while it was away).
    await eventually("the outage stored", async () => {
      const rows = await ch.rows<{ n: string }>(
        "SELECT count() AS n FROM pm_decide.outages WHERE check_id = 'web' AND kind = 'outage'",
      );
      return Number(rows[0]?.n ?? 0) > 0;
    });
  }, 180_000);
});
