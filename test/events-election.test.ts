// The live-events publisher when the events stream's leader dies (a 3-node NATS cluster, the stream
// with 3 replicas, the publisher's connection on the node killed). Until the survivors elect a leader,
// a publish has no responders and nats.js throws "jetstream is not enabled"; before, every event
// published meanwhile was lost with one warning each. Now they wait, are retried with backoff, and
// reach the stream in order once it has a leader, with one warning for the episode.
import { readFileSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { createEventPublisher, ensureEventsStream, EVENTS_STREAM } from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSecureNatsCluster, type NatsClusterNode, type SecureNatsCluster } from "./harness/nats.js";
import { waitFor } from "./harness/process.js";

const event = (id: string) => ({
  id,
  type: "outage.opened" as const,
  timestamp: new Date().toISOString(),
  data: { checkId: "web", state: "down" as const, regions: {} },
});

/** A connection to `first` (then the other nodes, in order), as the control plane's user. */
function connectFirst(cluster: SecureNatsCluster, first: NatsClusterNode): Promise<NatsConnection> {
  return connect({
    servers: [first.url, ...cluster.urls.filter((u) => u !== first.url)],
    noRandomize: true,
    tls: { caFile: cluster.caFile },
    authenticator: credsAuthenticator(readFileSync(cluster.controlPlaneCreds)),
  });
}

describe("live events across the events stream's leader election", () => {
  let cluster: SecureNatsCluster;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    cluster = await startSecureNatsCluster();
  }, 60_000);

  afterAll(async () => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await cluster?.dispose();
  });

  it("events published while the stream has no leader reach it, in order, once one is elected; one warning", async () => {
    const admin = await cluster.connect();
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    await ensureEventsStream(jsm, { replicas: 3 });
    const leaderName = await waitFor(
      "the events stream's leader",
      async () => (await jsm.streams.info(EVENTS_STREAM)).cluster?.leader,
    );
    const leader = cluster.node(leaderName);

    const nc = await connectFirst(cluster, leader);
    conns.push(nc);
    const lines: { level: number; msg: string; err?: string }[] = [];
    const log = pino(
      { level: "info" },
      { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string; err?: string }) },
    );
    const events = createEventPublisher({ js: jetstream(nc), leases: { holds: () => true }, log });

    const ids: string[] = [];
    const publish = (id: string) => {
      ids.push(`transition:${id}`);
      events.transition(event(id));
    };
    for (let i = 0; i < 5; i++) publish(`before-${i}`);
    await events.idle();
    expect(events.stats()).toMatchObject({ published: 5, retries: 0 });

    const killedAt = Date.now();
    await leader.kill();
    // An event every 100 ms for 6 s: during the reconnect, the election, and after.
    for (let i = 0; i < 60; i++) {
      publish(`during-${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const settled = () => {
      const st = events.stats();
      return st.waiting === 0 && st.published + st.failures + st.dropped + st.notOwner >= ids.length;
    };
    await waitFor("every event published or given up", settled, 60_000);
    await events.idle();
    const recoveredMs = Date.now() - killedAt;

    // What the stream holds, read through a survivor: every event once, in the order decided.
    const survivor = await connectFirst(
      cluster,
      cluster.nodes.find((n) => n !== leader)!,
    );
    conns.push(survivor);
    const survivorJsm = await jetstreamManager(survivor);
    const stored: string[] = [];
    const last = await waitFor(
      "the stream's state",
      async () => (await survivorJsm.streams.info(EVENTS_STREAM)).state.last_seq,
    );
    for (let seq = 1; seq <= last; seq++) {
      const m = await waitFor(`message ${seq}`, () => survivorJsm.streams.getMessage(EVENTS_STREAM, { seq }));
      stored.push(m?.header.get("Nats-Msg-Id") ?? "");
    }
    const stats = events.stats();
    const warnings = lines.filter((l) => l.level >= 40).map((l) => l.msg);
    const errors = lines.filter((l) => l.err).map((l) => l.err);
    console.log(
      `[events-election] killed ${leaderName}; all ${ids.length} events stored ${(recoveredMs / 1000).toFixed(1)} s ` +
        `after the kill; stats ${JSON.stringify(stats)}; warnings ${JSON.stringify(warnings)} (${JSON.stringify(errors)})`,
    );
    expect(stored).toEqual(ids);
    expect(stats).toMatchObject({ failures: 0, dropped: 0, notOwner: 0, waiting: 0 });
    // The fault happened (else the test proves nothing), and was told once per episode.
    expect(stats.retries).toBeGreaterThan(0);
    const episodes = lines.filter((l) => l.msg === "live events published again").length;
    expect(episodes).toBeGreaterThanOrEqual(1);
    expect(warnings).toEqual(
      Array<string>(episodes).fill(
        "could not publish live events; they wait and are retried until the events stream takes them",
      ),
    );
  }, 120_000);
});
