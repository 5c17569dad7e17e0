// Builders of wire messages for tests (agent, control plane and test/): one place for sensible
// defaults, so a test states only the fields it is about.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CheckSchema, type Check } from "../gen/probemesh/v1/check_pb.js";
import { ProbeResultSchema, ProbeState, type ProbeResult } from "../gen/probemesh/v1/result_pb.js";
import { WatchAssignmentsResponseSchema, type WatchAssignmentsResponse } from "../gen/probemesh/v1/agent_service_pb.js";

/** Fields of a check, as `create(CheckSchema, …)` takes them. */
export type CheckInit = MessageInitShape<typeof CheckSchema>;
/** Fields of a probe result, as `create(ProbeResultSchema, …)` takes them. */
export type ProbeResultInit = MessageInitShape<typeof ProbeResultSchema>;

/** A check for tests: type "http", every 1000 ms, 500 ms timeout, version 1, unless `fields` say otherwise. */
export function checkFixture(id: string, fields: CheckInit = {}): Check {
  return create(CheckSchema, {
    id,
    type: "http",
    intervalMs: 1000,
    timeoutMs: 500,
    version: 1,
    ...fields,
  } as CheckInit);
}

/** Start time of {@link probeResultFixture}'s results: 2023-11-14T22:13:20Z. */
export const FIXTURE_STARTED_AT_MS = 1_700_000_000_000;

/**
 * A probe result for tests: check "web" version 1 up, from agent "agent-eu" (eu-west, provider
 * "test"), seq 1, one attempt, started at {@link FIXTURE_STARTED_AT_MS}, unless `fields` say otherwise.
 */
export function probeResultFixture(fields: ProbeResultInit = {}): ProbeResult {
  return create(ProbeResultSchema, {
    id: "r-1",
    checkId: "web",
    checkVersion: 1,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "test",
    startedAtMs: BigInt(FIXTURE_STARTED_AT_MS),
    state: ProbeState.UP,
    seq: 1n,
    attempts: 1,
    ...fields,
  } as ProbeResultInit);
}

/** A WatchAssignments message carrying the full assignment set at `version`. */
export function snapshotResponse(
  version: bigint,
  checks: Check[],
  partitions = 0,
  regions: string[] = [],
): WatchAssignmentsResponse {
  return create(WatchAssignmentsResponseSchema, {
    event: { case: "snapshot", value: { version, checks, partitions, regions } },
  });
}

/** A WatchAssignments message carrying the changes that lead to `version`. */
export function deltaResponse(
  version: bigint,
  upserted: Check[],
  removed: string[] = [],
  partitions = 0,
  regions: string[] = [],
): WatchAssignmentsResponse {
  return create(WatchAssignmentsResponseSchema, {
    event: { case: "delta", value: { version, upserted, removed, partitions, regions } },
  });
}
