// Partition routing on real servers (HA plan, point 1): the control plane announces
// PROBEMESH_PARTITIONS in the assignments, a real agent publishes each result on
// `probemesh.results.<region>.<agent>.<partitionOf(check uid, P)>` with the NATS credentials the
// control plane minted for it, ingest stores them; a result on another partition is refused and counted.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadAgentCredentialIssuer } from "@probemesh/control-plane";
import {
  partitionOf,
  ProbeResultSchema,
  ProbeState,
  RESULTS_STREAM,
  RESULTS_SUBJECT_ALL,
  resultSubject,
} from "@probemesh/proto";
import { probeResultFixture } from "@probemesh/proto/testing";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecureNatsServer } from "./harness/nats.js";
import { startMesh, waitFor, type Mesh } from "./harness/mesh.js";

const P = 8;
const REGION = "eu-west";
const AGENT = `agent-${REGION}`;
const CHECKS = ["routed-a", "routed-b", "routed-c"];

async function chQuery<T>(mesh: Mesh, sql: string): Promise<T[]> {
  const res = await fetch(
    `${mesh.ch.url}/?database=probemesh&query=${encodeURIComponent(`${sql} FORMAT JSONEachRow`)}`,
  );
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

/** The control plane's JSON log lines with this message. */
function logLines(mesh: Mesh, msg: string): Record<string, unknown>[] {
  return mesh.cp.proc
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes(msg))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

describe("partition routing: agents publish on their check's partition, ingest holds them to it", () => {
  let mesh: Mesh;
  let nats: SecureNatsServer;
  let admin: NatsConnection;
  let target: Server;
  const uids = new Map<string, string>();

  beforeAll(async () => {
    target = createServer((sock) => sock.end());
    const port = await new Promise<number>((resolve) =>
      target.listen(0, "127.0.0.1", () => resolve((target.address() as { port: number }).port)),
    );
    // Secure, as deployed: the agent publishes with the credentials the control plane minted for it.
    mesh = await startMesh({ regions: [REGION], env: { PROBEMESH_PARTITIONS: String(P) } });
    if (!mesh.secureNats) throw new Error("expected a secure mesh");
    nats = mesh.secureNats;
    admin = await nats.connect();
    for (const id of CHECKS) {
      const res = await mesh.cp.request("/v1/checks", {
        method: "POST",
        body: JSON.stringify({
          id,
          type: "tcp",
          intervalMs: 1000,
          timeoutMs: 800,
          regions: [REGION],
          tcp: { host: "127.0.0.1", port },
        }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { uid } = (await res.json()) as { uid: string };
      expect(uid).toMatch(/^[0-9a-f-]{36}$/);
      uids.set(id, uid);
    }
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await mesh?.dispose();
    target?.close();
  });

  it("a real agent's results arrive on probemesh.results.<region>.<agent>.<partitionOf(uid, P)> and are stored", async () => {
    await waitFor(
      "rows of every check in ClickHouse",
      async () => {
        const rows = await chQuery<{ check_id: string; n: string }>(
          mesh,
          `SELECT check_id, count() AS n FROM results WHERE check_id IN (${CHECKS.map((c) => `'${c}'`).join(",")}) GROUP BY check_id`,
        );
        return rows.length === CHECKS.length && rows.every((r) => Number(r.n) >= 2);
      },
      60_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
    });

    // Every message in the stream sits on a partitioned subject of this agent, and each check on its own.
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(RESULTS_STREAM, { subjects_filter: RESULTS_SUBJECT_ALL });
    const expected = new Set(CHECKS.map((c) => resultSubject(REGION, AGENT, partitionOf(uids.get(c)!, P))));
    expect(new Set(Object.keys(info.state.subjects ?? {}))).toEqual(expected);
    for (const c of CHECKS) {
      const subject = resultSubject(REGION, AGENT, partitionOf(uids.get(c)!, P));
      const last = await jsm.streams.getMessage(RESULTS_STREAM, { last_by_subj: subject });
      expect(last?.subject).toBe(subject);
      // Two checks may share a partition: the message is one of those on it.
      const onIt = CHECKS.filter((other) => resultSubject(REGION, AGENT, partitionOf(uids.get(other)!, P)) === subject);
      expect(onIt).toContain(fromBinary(ProbeResultSchema, last!.data).checkId);
    }
  });

  it("a result its agent published on another partition is refused and counted, never stored", async () => {
    const issuer = loadAgentCredentialIssuer({
      natsSigningKeyFile: nats.signingKeyFile,
      natsCredsFile: nats.controlPlaneCreds,
      agentNatsCredsTtlMs: 120_000,
    });
    if (!issuer) throw new Error("no issuer");
    // The agent's own NATS user (what GetNatsCredentials gives it): its partitioned subjects are allowed.
    const { creds } = await issuer.issue({ id: AGENT, region: REGION });
    const nc = await nats.connect({ creds, inboxPrefix: `_INBOX_${AGENT}` });
    try {
      const js = jetstream(nc);
      const uid = uids.get("routed-a")!;
      const right = partitionOf(uid, P);
      const wrong = (right + 1) % P;
      const forged = (id: string) =>
        toBinary(
          ProbeResultSchema,
          probeResultFixture({
            id,
            checkId: "routed-a",
            checkVersion: 1,
            agentId: AGENT,
            region: REGION,
            provider: "test",
            startedAtMs: BigInt(Date.now()),
            durationMs: 2,
            state: ProbeState.DOWN,
            reason: "connect",
            seq: 1n,
            attempts: 1,
            target: "127.0.0.1:1",
          }),
        );
      const wrongId = `wrong-partition-${Date.now()}`;
      const rightId = `right-partition-${Date.now()}`;
      await js.publish(resultSubject(REGION, AGENT, wrong), forged(wrongId), { msgID: wrongId });
      // The same result on the right partition is taken: only the partition differs.
      await js.publish(resultSubject(REGION, AGENT, right), forged(rightId), { msgID: rightId });

      await waitFor(
        "the right-partition result stored",
        async () => (await chQuery(mesh, `SELECT id FROM results WHERE id = '${rightId}'`)).length === 1,
        30_000,
        300,
      );
      // Refused after the redeliveries a trailing registry copy gets (3 deliveries, 2 s apart).
      const refusal = await waitFor(
        "the wrong-partition result refused",
        () =>
          logLines(mesh, "untrusted probe result dropped").find(
            // Ingest's refusal (the partition's decider refuses it too, at once, in its own log lines).
            (l) =>
              l.component === "ingest" && l.reason === "partition" && l.subject === resultSubject(REGION, AGENT, wrong),
          ),
        30_000,
        300,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
      });
      expect(refusal).toMatchObject({ agentId: AGENT, region: REGION, checkId: "routed-a" });
      expect(await chQuery(mesh, `SELECT id FROM results WHERE id = '${wrongId}'`)).toEqual([]);
    } finally {
      await nc.close();
    }

    // The count: ingest reports its untrusted counters when it stops.
    await mesh.cp.stop();
    const stopped = logLines(mesh, "ingest stopped").at(-1);
    expect(stopped?.untrusted).toMatchObject({ partition: 1, subjectMismatch: 0 });
  });
});
