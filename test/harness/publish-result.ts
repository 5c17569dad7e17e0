// Results published as an agent that knows partitions publishes them (5-token subjects), for tests
// that script what each region sees instead of probing real targets.
import { toBinary } from "@bufbuild/protobuf";
import type { JetStreamClient } from "@nats-io/jetstream";
import { ProbeResultSchema, ProbeState, resultSubject } from "@probemesh/proto";
import { probeResultFixture } from "@probemesh/proto/testing";

/** One scripted result; `agentId` defaults to `agent-<region>`. */
export interface ScriptedResult {
  checkId: string;
  region: string;
  agentId?: string;
  /** The check's partition (`partitionOf(uid, P)`): the subject's last token. */
  partition: number;
  state: ProbeState;
  reason?: string;
  message?: string;
  canary?: boolean;
  /** Unique per result: its id, sequence and JetStream message id derive from it. */
  seq: number;
}

/** Publishes one result now (`startedAtMs` = Date.now()), deduplicated by its id; resolves once JetStream has it. */
export async function publishResult(js: JetStreamClient, s: ScriptedResult): Promise<void> {
  const agentId = s.agentId ?? `agent-${s.region}`;
  const r = probeResultFixture({
    id: `${s.checkId}-${s.region}-${s.seq}`,
    checkId: s.checkId,
    checkVersion: 1,
    agentId,
    region: s.region,
    startedAtMs: BigInt(Date.now()),
    durationMs: 3,
    state: s.state,
    reason: s.reason ?? (s.state === ProbeState.DOWN ? "connect" : ""),
    message: s.message ?? "",
    seq: BigInt(s.seq),
    target: "127.0.0.1:1",
    canary: s.canary ?? false,
  });
  await js.publish(resultSubject(s.region, agentId, s.partition), toBinary(ProbeResultSchema, r), { msgID: r.id });
}
