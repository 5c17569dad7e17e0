// Results are bound to their sender, on real servers: ingest (JetStream -> ClickHouse) and the partition
// deciders (JetStream -> consensus, wired as main.ts wires them, with real leases) each drop, count and
// settle results whose payload names another region or agent than the subject, whose agent is not
// enrolled or revoked, whose region is not the agent's, or whose check is not assigned to that region.
// Forged results change no verdict, are never stored, and never block the stream.
import { toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  partitionOf,
  ProbeResultSchema,
  ProbeState,
  RESULTS_STREAM,
  resultSubject,
  type ProbeResult,
} from "@probemesh/proto";
import { checkFixture, probeResultFixture, type ProbeResultInit } from "@probemesh/proto/testing";
import {
  type ClickHouseStore,
  type ConsensusCluster,
  createClickHouseStore,
  createConsensusCluster,
  createIncidentKv,
  createIngest,
  createMemoryEnrollments,
  createMemoryRegistry,
  createOutageStore,
  createPartitionLeases,
  createResultBinding,
  ensureResultsStream,
  followChecks,
  jetStreamFeed,
  openIncidentBucket,
  type Enrollments,
  type Ingest,
  type PartitionLeases,
  type Transition,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, startNats, waitFor, type ClickHouseServer, type NatsServer } from "./harness/index.js";

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const DURABLE = "probemesh-ingest";
const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const agentOf = (region: string) => `agent-${region}`;
const PARTITIONS = 16;
/** Uid the registry gave each check (a uid is given on create). */
const uids = new Map<string, string>();

let n = 0;
function result(over: ProbeResultInit & { agentId: string; region: string }): ProbeResult {
  n++;
  return probeResultFixture({
    id: `r-${n}`,
    checkId: "web",
    checkVersion: 1,
    provider: "test",
    startedAtMs: BigInt(Date.now()),
    durationMs: 3,
    state: ProbeState.UP,
    seq: BigInt(n),
    attempts: 1,
    target: "http://127.0.0.1:1/",
    ...over,
  } as ProbeResultInit);
}

const down = { state: ProbeState.DOWN, reason: "connect" } as const;

describe("results bound to their senders, on real NATS and ClickHouse", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let store: ClickHouseStore;
  let enrollments: Enrollments;
  let leases: PartitionLeases;
  let consensus: ConsensusCluster;
  let ingest: Ingest;
  let stopChecks: () => void;
  const transitions: Transition[] = [];

  /**
   * The subject an agent that knows partitions publishes `r` on: the region, agent and partition of
   * the check it claims (the 4-token form for a check nobody knows); deciders read their partitions'.
   */
  function subjectOf(r: ProbeResult, region = r.region, agentId = r.agentId): string {
    const uid = uids.get(r.checkId);
    return resultSubject(region, agentId, uid === undefined ? undefined : partitionOf(uid, PARTITIONS));
  }

  /** Publishes `r` on `subject` (default: the subject of the region/agent the payload claims). */
  async function publish(r: ProbeResult, subject = subjectOf(r)): Promise<void> {
    await js.publish(subject, toBinary(ProbeResultSchema, r), { msgID: r.id });
  }

  /** One honest round: every enrolled agent reports `state` for `checkId`. */
  async function honestRound(checkId = "web"): Promise<ProbeResult[]> {
    const rs = REGIONS.map((region) => result({ checkId, agentId: agentOf(region), region }));
    for (const r of rs) await publish(r);
    return rs;
  }

  async function drained(): Promise<boolean> {
    const info = await jsm.consumers.info(RESULTS_STREAM, DURABLE);
    return info.num_ack_pending === 0 && info.num_pending === 0;
  }

  const stored = async (ids: string[], checkId = "web"): Promise<string[]> =>
    (await store.queryResults({ checkId, from: 0, to: Date.now() + 60_000, limit: 10_000 }))
      .map((r) => r.id)
      .filter((id) => ids.includes(id));

  beforeAll(async () => {
    [nats, ch] = await Promise.all([startNats(), startClickHouse()]);
    store = createClickHouseStore({ url: ch.url, database: "pm_trust", log });
    await store.migrate();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await ensureResultsStream(jsm);

    enrollments = createMemoryEnrollments();
    for (const region of REGIONS) await enrollments.enroll({ id: agentOf(region), region, provider: "test" });
    await enrollments.enroll({ id: "agent-retired", region: "eu-west", provider: "test" });
    await enrollments.revoke("agent-retired");
    const registry = createMemoryRegistry({ log });
    // Runs in every region (no list): the kind of check invented regions used to grow.
    for (const check of [
      checkFixture("web", { intervalMs: 1000, timeoutMs: 500, failureThreshold: 2 }),
      checkFixture("eu-only", { intervalMs: 1000, timeoutMs: 500, regions: ["eu-west"] }),
      checkFixture("routed", { intervalMs: 1000, timeoutMs: 500 }),
    ])
      uids.set(check.id, (await registry.create(check)).check.uid);
    const checks = followChecks(registry);
    stopChecks = checks.stop;
    const binding = createResultBinding({ enrollments, check: checks.get, partitions: PARTITIONS });

    // As main.ts wires it: storage and the deciders read the stream independently, both bound.
    leases = createPartitionLeases({ nc, log, replicaId: "trust", partitions: PARTITIONS });
    consensus = createConsensusCluster({
      leases,
      registry,
      checks,
      binding,
      enrollments,
      openFeed: jetStreamFeed(nc, log),
      incidents: createIncidentKv(() => openIncidentBucket(nc)),
      outageStore: createOutageStore({ client: store.client, log }),
      log,
      onTransition: (t) => void transitions.push(t),
    });
    await consensus.start();
    await leases.start();
    await waitFor("every partition decided live", () => {
      const deciders = consensus.stats().deciders;
      return deciders.length === PARTITIONS && deciders.every((d) => d.live);
    });
    ingest = createIngest({ nc, store, log, binding, batchSize: 50, flushMs: 50, unknownRetryMs: 100 });
    await ingest.start();
  });

  afterAll(async () => {
    await ingest?.stop();
    await consensus?.stop();
    await leases?.stop();
    stopChecks?.();
    await nc?.close();
    await store?.close();
    await Promise.all([nats?.dispose(), ch?.dispose()]);
  });

  it("honest results are stored and decide the verdict", async () => {
    const ids = [...(await honestRound()), ...(await honestRound())].map((r) => r.id);
    await waitFor("honest rows stored", async () => (await stored(ids)).length === ids.length);
    await waitFor("check up", () => consensus.status("web")?.state === "up");
    expect(Object.keys(consensus.status("web")!.regions).sort()).toEqual([...REGIONS].sort());
  });

  it("foreign regions and agents in payloads on an agent's own subject change no verdict, are counted and not stored", async () => {
    const own = resultSubject("eu-west", agentOf("eu-west"), partitionOf(uids.get("web")!, PARTITIONS));
    const forged: ProbeResult[] = [];
    const before = ingest.stats().untrusted;
    const decidersBefore = consensus.stats().untrusted;
    for (let round = 0; round < 4; round++) {
      // The attack of the issue: results from invented regions, enough of them for any quorum, sent on the
      // compromised eu-west agent's own subject (the only one its NATS identity may publish on).
      for (const region of ["x1", "x2", "x3", "x4"])
        forged.push(result({ agentId: `ghost-${region}`, region, ...down }));
      // Another enrolled agent's identity and region claimed in the payload.
      forged.push(result({ agentId: agentOf("us-east"), region: "us-east", ...down }));
      for (const r of forged.slice(-5)) await publish(r, own);
      await honestRound();
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor(
      "forged results counted",
      () => ingest.stats().untrusted.subjectMismatch - before.subjectMismatch === 20,
    );
    // The deciders read the same messages and refuse them for the same reason.
    await waitFor(
      "forged results refused by the deciders",
      () => consensus.stats().untrusted.subjectMismatch - decidersBefore.subjectMismatch === 20,
    );
    await waitFor("consumer drained", drained);
    expect(consensus.status("web")?.state).toBe("up");
    expect(Object.keys(consensus.status("web")!.regions).sort()).toEqual([...REGIONS].sort());
    expect(
      consensus
        .agents()
        .map((a) => a.agentId)
        .sort(),
    ).toEqual(REGIONS.map(agentOf).sort());
    expect(transitions.filter((t) => t.type === "outage.opened" || t.type === "partial.opened")).toEqual([]);
    expect(await stored(forged.map((r) => r.id))).toEqual([]);
  });

  it("on matching subjects: unknown agents, revoked agents, foreign regions and unassigned checks are each counted and dropped", async () => {
    const before = ingest.stats().untrusted;
    const forged = [
      // Matching subject and payload, but nobody enrolled these (anonymous NATS today).
      ...["x1", "x2", "x3", "x4"].map((region) => result({ agentId: `ghost-${region}`, region, ...down })),
      result({ agentId: "agent-retired", region: "eu-west", ...down }),
      // An enrolled agent on a subject of a region it is not enrolled for.
      result({ agentId: agentOf("eu-west"), region: "us-east", ...down }),
      // A check that does not run in us-east.
      result({ checkId: "eu-only", agentId: agentOf("us-east"), region: "us-east", ...down }),
    ];
    for (const r of forged) await publish(r);
    await honestRound();
    await waitFor("every reason counted", () => {
      const now = ingest.stats().untrusted;
      return (
        now.notEnrolled - before.notEnrolled === 4 &&
        now.revoked - before.revoked === 1 &&
        now.wrongRegion - before.wrongRegion === 1 &&
        now.notAssigned - before.notAssigned === 1
      );
    });
    await waitFor("consumer drained", drained);
    expect(await stored(forged.map((r) => r.id))).toEqual([]);
    expect(consensus.status("web")?.state).toBe("up");
    expect(consensus.status("eu-only")?.regions).toEqual({ "eu-west": expect.objectContaining({ agents: [] }) });
  });

  it("a result of a check this replica does not know is redelivered a few times, then dropped as notAssigned", async () => {
    const before = ingest.stats().untrusted.notAssigned;
    const receivedBefore = ingest.stats().received;
    const r = result({ checkId: "not-yet", agentId: agentOf("ap-south"), region: "ap-south" });
    await publish(r);
    await waitFor("dropped after its deliveries", () => ingest.stats().untrusted.notAssigned === before + 1);
    await waitFor("consumer drained", drained);
    // Delivered three times (the default), not once and not forever.
    expect(ingest.stats().received - receivedBefore).toBe(3);
  });

  it("a result of an agent enrolled a moment after it was sent (this replica's copy trailing) is not lost", async () => {
    const r = result({ agentId: "agent-late", region: "ap-south" });
    const receivedBefore = ingest.stats().received;
    await publish(r);
    await waitFor("first delivery, before the enrollment", () => ingest.stats().received > receivedBefore);
    await enrollments.enroll({ id: "agent-late", region: "ap-south", provider: "test" });
    await waitFor("stored once enrolled", async () => (await stored([r.id])).length === 1);
    await waitFor("consumer drained", drained);
    expect(ingest.stats().received - receivedBefore).toBe(2);
  });

  it("partitioned subjects: the check's partition and the 4-token form are stored, another partition is redelivered, then dropped and counted", async () => {
    const agent = agentOf("ap-south");
    const right = partitionOf(uids.get("routed")!, PARTITIONS);
    const before = ingest.stats().untrusted;
    const receivedBefore = ingest.stats().received;
    const onRight = result({ checkId: "routed", agentId: agent, region: "ap-south" });
    const unpartitioned = result({ checkId: "routed", agentId: agent, region: "ap-south" });
    const onWrong = result({ checkId: "routed", agentId: agent, region: "ap-south" });
    await publish(onRight, resultSubject("ap-south", agent, right));
    await publish(unpartitioned, resultSubject("ap-south", agent));
    await publish(onWrong, resultSubject("ap-south", agent, (right + 1) % PARTITIONS));
    await waitFor(
      "the check's own partition and the 4-token subject stored",
      async () => (await stored([onRight.id, unpartitioned.id], "routed")).length === 2,
    );
    await waitFor("refused", () => ingest.stats().untrusted.partition - before.partition === 1);
    await waitFor("consumer drained", drained);
    // The refused result was delivered three times (a registry copy trailing a re-created check gets that long).
    expect(ingest.stats().received - receivedBefore).toBe(2 + 3);
    expect(await stored([onWrong.id], "routed")).toEqual([]);
    const now = ingest.stats().untrusted;
    expect(now.subjectMismatch).toBe(before.subjectMismatch);
    expect(now.notAssigned).toBe(before.notAssigned);
  });

  it("a revoked agent's votes are withdrawn and its later results dropped", async () => {
    // us-east and eu-west report the target down: an outage on 2 of 3 regions.
    for (let k = 0; k < 3; k++) {
      for (const region of ["eu-west", "us-east"]) await publish(result({ agentId: agentOf(region), region, ...down }));
      await publish(result({ agentId: agentOf("ap-south"), region: "ap-south" }));
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitFor("outage opened", () => consensus.status("web")?.state === "down");
    expect(transitions.filter((t) => t.type === "outage.opened")).toHaveLength(1);
    await enrollments.revoke(agentOf("eu-west"));
    expect(consensus.agent(agentOf("eu-west"))).toBeUndefined();
    expect(Object.keys(consensus.status("web")!.regions).sort()).toEqual(["ap-south", "us-east"]);
    const before = ingest.stats().untrusted.revoked;
    const decidersBefore = consensus.stats().untrusted.revoked;
    const late = result({ agentId: agentOf("eu-west"), region: "eu-west", ...down });
    await publish(late);
    // Storage and the deciders each refuse it: it is neither stored nor a vote.
    await waitFor("late result dropped", () => ingest.stats().untrusted.revoked === before + 1);
    await waitFor(
      "late result refused by the decider",
      () => consensus.stats().untrusted.revoked === decidersBefore + 1,
    );
    expect(await stored([late.id])).toEqual([]);
    expect(consensus.agent(agentOf("eu-west"))).toBeUndefined();
  });
});
