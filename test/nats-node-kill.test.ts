// Kill -9 of a node of a 3-node NATS cluster (streams with 3 replicas), under a connection of ours.
//
// Live events: the events stream's leader dies under the publisher's connection. Until the survivors
// elect a leader, a publish has no responders and nats.js throws "jetstream is not enabled"; before,
// every event published meanwhile was lost with one warning each. Now they wait, are retried with
// backoff, and reach the stream in order once it has a leader, with one warning for the episode.
//
// Result feed: the node the feed is connected to, and that holds its consumer, dies. The client
// reconnects to a survivor, turns its heartbeat monitor off and asks for its consumer's info until it
// answers; the consumer lived on the dead node, so it never does while that node is down: the feed
// neither receives nor pulls. Its stall rule (FEED_STALL_MS) re-creates the consumer on a live node;
// results published after the kill must arrive while the killed node is still down.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  createEventPublisher,
  ensureEventsStream,
  ensureResultsStream,
  EVENTS_STREAM,
  jetStreamFeed,
  type OpenFeed,
} from "@probemesh/control-plane";
import { RESULTS_STREAM, resultSubject } from "@probemesh/proto";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startSecureNatsCluster, type SecureNatsCluster } from "./harness/nats.js";
import { waitFor } from "./harness/process.js";

const PARTITION = 3;

const event = (id: string) => ({
  id,
  type: "outage.opened" as const,
  timestamp: new Date().toISOString(),
  data: { checkId: "web", state: "down" as const, regions: {} },
});

describe("kill -9 of a NATS node under a connection of ours", () => {
  let cluster: SecureNatsCluster;
  const conns: NatsConnection[] = [];

  beforeEach(async () => {
    cluster = await startSecureNatsCluster();
  }, 60_000);

  afterEach(async () => {
    for (const nc of conns.splice(0)) await nc.close().catch(() => undefined);
    await cluster?.dispose();
  });

  /** Creates a stream with `ensure` (retried: right after start a node may not yet take placements) and waits for its leader. */
  async function replicatedStream(
    ensure: (jsm: JetStreamManager) => Promise<unknown>,
    name: string,
  ): Promise<{ jsm: JetStreamManager; leaderName: string }> {
    const admin = await cluster.connect();
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    await waitFor(`stream ${name} created`, () => ensure(jsm).then(() => true));
    const leaderName = await waitFor(
      `stream ${name}'s leader`,
      async () => (await jsm.streams.info(name)).cluster?.leader,
    );
    return { jsm, leaderName };
  }

  it("events published while the stream has no leader reach it, in order, once one is elected; one warning", async () => {
    const { leaderName } = await replicatedStream((jsm) => ensureEventsStream(jsm, { replicas: 3 }), EVENTS_STREAM);
    const leader = cluster.node(leaderName);

    const nc = await cluster.connect({ first: leader });
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
    const survivor = await cluster.connect({ first: cluster.nodes.find((n) => n !== leader)! });
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
      `[nats-node-kill: events] killed ${leaderName}; ${ids.length} events published, settled ${(recoveredMs / 1000).toFixed(1)} s ` +
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

  it("re-creates its consumer on a survivor and delivers results published after the kill, the node still down", async () => {
    const { jsm, leaderName } = await replicatedStream(
      (jsm) => ensureResultsStream(jsm, { replicas: 3 }),
      RESULTS_STREAM,
    );

    const lines: { msg: string; status?: string }[] = [];
    const log = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) });
    const received: string[] = [];
    const pubNc = await cluster.connect({ first: cluster.nodes[0]! });
    conns.push(pubNc);
    const js = jetstream(pubNc);
    let published = 0;
    const publish = (body: string) =>
      waitFor(`${body} stored`, () => js.publish(resultSubject("eu", "a1", PARTITION), body, { msgID: body }), 30_000);

    // The feed connected to the node that holds its consumer (placed on a random peer of the stream:
    // opened again, connected to where the last one landed, until they match).
    let node = cluster.nodes[0]!;
    const seen = new Set<string>();
    let feed: Awaited<ReturnType<OpenFeed>> | undefined;
    for (let attempt = 1; !feed; attempt++) {
      const nc = await cluster.connect({ first: node });
      conns.push(nc);
      const opened = await jetStreamFeed(nc, log)(
        { partition: PARTITION, since: Date.now() },
        { message: (m) => received.push(new TextDecoder().decode(m.data)), caughtUp: () => undefined },
      );
      // Its consumer: the one not seen before (a stopped feed's may linger until the server drops it).
      let at = "";
      for await (const ci of jsm.consumers.list(RESULTS_STREAM)) {
        if (seen.has(ci.name)) continue;
        seen.add(ci.name);
        at = ci.cluster?.leader ?? "";
      }
      if (at === node.serverName) feed = opened;
      else {
        await opened.stop();
        await nc.close();
        node = cluster.node(at);
        expect(attempt).toBeLessThan(30);
      }
    }
    await publish(`before-${published++}`);
    await waitFor("a result published before the kill", () => received.length > 0);

    const killedAt = Date.now();
    await node.kill();
    let after = 0;
    let deliveredMs: number | undefined;
    while (Date.now() - killedAt < 45_000) {
      await publish(`after-${after++}`);
      if (received.some((r) => r.startsWith("after-"))) {
        deliveredMs = Date.now() - killedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const told = lines.map((l) => (l.status ? `${l.msg}: ${l.status}` : l.msg));
    console.log(
      `[nats-node-kill: feed] killed ${node.serverName} (the feed's node and its consumer's; stream leader ${leaderName}); ` +
        `first result published after the kill delivered ${deliveredMs === undefined ? "never" : `${(deliveredMs / 1000).toFixed(1)} s`} ` +
        `after it; feed said ${JSON.stringify([...new Set(told)])}`,
    );
    await feed.stop();
    expect(deliveredMs).toBeDefined();
    // Every result published after the kill and before the check arrived (in order, none twice).
    const afters = received.filter((r) => r.startsWith("after-"));
    expect(afters).toEqual(afters.map((_, i) => `after-${i}`));
    expect(node.proc.exited()).toBe(true);
  }, 120_000);
});
