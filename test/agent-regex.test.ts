// A check with a catastrophically backtracking regex must not stall its agent: the agent bin runs
// it beside an ordinary 1 s check against local targets and a real nats-server, and both keep
// publishing. With RegExp the pattern on its 51-byte body blocked the only thread for 89 s.
import { fromBinary } from "@bufbuild/protobuf";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ProbeResultSchema, ProbeState, RESULTS_STREAM, RESULTS_SUBJECT_ALL, type ProbeResult } from "@probemesh/proto";
import { checkFixture } from "@probemesh/proto/testing";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAssignmentCache, createLogger } from "@probemesh/agent";
import { startAgent, UNENROLLED_AGENT_TOKEN, type Agent } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { waitFor } from "./harness/process.js";
import { generateTestCerts } from "./harness/targets-certs.js";
import { startTargets, type Targets } from "./harness/targets.js";

const log = createLogger({ level: "silent" });
const BACKTRACKING = String.raw`^(\w+\s?)+$`;
const HOSTILE_BODY = "a".repeat(50) + "!";
/** How long the agent is watched once it publishes. */
const WINDOW_MS = 10_000;

describe("agent with a catastrophically backtracking check regex", () => {
  let nats: NatsServer;
  let targets: Targets;
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  let agent: Agent | undefined;
  let stateDir = "";

  beforeAll(async () => {
    nats = await startNats();
    targets = await startTargets(generateTestCerts());
    admin = await connect({ servers: nats.url });
    jsm = await jetstreamManager(admin);
    await jsm.streams.add({ name: RESULTS_STREAM, subjects: [RESULTS_SUBJECT_ALL] });
    stateDir = mkdtempSync(join(tmpdir(), "agent-regex-"));
  });
  afterAll(async () => {
    await agent?.stop();
    await admin?.close();
    await targets?.close();
    await nats?.dispose();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function stored(): Promise<ProbeResult[]> {
    const info = await jsm.streams.info(RESULTS_STREAM);
    const out: ProbeResult[] = [];
    for (let s = info.state.first_seq; info.state.messages > 0 && s <= info.state.last_seq; s++) {
      const m = await jsm.streams.getMessage(RESULTS_STREAM, { seq: s });
      if (m) out.push(fromBinary(ProbeResultSchema, m.data));
    }
    return out;
  }

  it("keeps the other check on its interval and answers the regex check every run", async () => {
    // Assignments come from the agent's cache: no control plane is needed (nor reachable).
    createAssignmentCache({ dir: stateDir, log }).save({
      version: 1n,
      partitions: 0,
      checks: [
        checkFixture("backtracking", {
          intervalMs: 2000,
          timeoutMs: 1500,
          http: {
            url: `${targets.http}/text?body=${encodeURIComponent(HOSTILE_BODY)}`,
            bodyRegex: [BACKTRACKING],
          },
        }),
        checkFixture("steady", {
          intervalMs: 1000,
          timeoutMs: 900,
          http: { url: `${targets.http}/ok`, bodyRegex: ['"status":"ok"'] },
        }),
      ],
    });
    agent = startAgent({
      id: "regex-1",
      region: "eu-west",
      token: UNENROLLED_AGENT_TOKEN,
      grpcAddr: "127.0.0.1:1",
      natsUrl: nats.url,
      env: { PROBEMESH_STATE_DIR: stateDir },
    });
    const running = agent;
    await waitFor(
      "first results",
      async () => (await jsm.streams.info(RESULTS_STREAM)).state.messages > 0,
      30_000,
      100,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${running.proc.output()}`);
    });
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const results = await stored();

    const steady = results.filter((r) => r.checkId === "steady");
    expect(steady.length).toBeGreaterThanOrEqual(8);
    expect(new Set(steady.map((r) => r.state))).toEqual(new Set([ProbeState.UP]));

    const backtracking = results.filter((r) => r.checkId === "backtracking");
    expect(backtracking.length).toBeGreaterThanOrEqual(4);
    for (const r of backtracking) {
      expect(r.state).toBe(ProbeState.DOWN);
      expect(r.reason).toBe("assertion:body_regex");
      expect(r.message).toBe(String.raw`body does not match /^(\w+\s?)+$/`);
    }

    // Nothing lost or reordered on the way: the agent's seq runs 1..n.
    const seqs = results.map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });
});
