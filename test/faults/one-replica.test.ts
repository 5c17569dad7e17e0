// Fault suite, one control plane (issue 12): every fault strikes during a live outage (target down in
// three regions, `outage.opened` received, then the fault, then the target back, `outage.resolved`
// received), on one mesh of built programs (secure NATS, ClickHouse, three agents, 1 s checks,
// thresholds 2/2, a signed-webhook receiver). Each case asserts what users see:
// - every agent's results are stored exactly once within 30 s of the fault's end (per-agent `seq`
//   contiguous, no result id twice);
// - each transition is announced once (one webhook-id per incident and type), no `outage.resolved`
//   arrives while the target is down, and recovery is announced once;
// - where the fault must not blind the decision (ClickHouse hung), both transitions are announced
//   while the fault lasts.
// The cases run in order on one mesh (the suite's time budget); each starts with the check up.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  crashAndRestartClickHouse,
  kill9,
  outageCase,
  pause,
  setUpOutageCheck,
  agentStarted,
  startSignedReceiver,
  startTrackedTarget,
  waitForDelivery,
  waitForState,
  type SignedReceiver,
  type TrackedTarget,
} from "../harness/faults.js";
import { startMesh, type Mesh } from "../harness/mesh.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const CHECK = "web";
/** How long the long faults last (issue 12: SIGSTOP for 20 s). */
const FAULT_MS = 20_000;
const CLOCK_OFFSET = join(import.meta.dirname, "fixtures", "clock-offset.mjs");

describe("fault suite, one control plane: every fault during a live outage", () => {
  let mesh: Mesh;
  let target: TrackedTarget;
  let receiver: SignedReceiver;

  beforeAll(async () => {
    target = await startTrackedTarget();
    receiver = await startSignedReceiver(target);
    mesh = await startMesh({ regions: REGIONS });
    await setUpOutageCheck(mesh.cp, { checkId: CHECK, target, receiver });
  }, 120_000);

  afterAll(async () => {
    await mesh?.dispose();
    await receiver?.close();
    target?.close();
  });

  const outage = outageCase({ mesh: () => mesh, checkId: CHECK, target: () => target, receiver: () => receiver });
  const fail = outage.fail;
  const openOutage = () => outage.open();
  const resolveOutage = () => outage.resolve();

  const expectIntact = (caseStart: number, faultEnd: number | ((agentId: string) => number)) =>
    outage.expectIntact(caseStart, faultEnd);

  /** Restarts an agent on its state dir; resolves once it logged its start (seq resumed, outbox depth). */
  async function restartAgent(id: string, env?: Record<string, string>) {
    const agent = await mesh.restartAgent(id, env);
    const start = await agentStarted(agent).catch(fail(`${id} restart`));
    return { agent, start };
  }

  it("ClickHouse hung (SIGSTOP 20 s): recovery and a new outage are both announced while it is stopped", async () => {
    const caseStart = await openOutage();
    let resolvedWhileHung = false;
    let reopenedWhileHung = false;
    const hang = mesh.ch.proc.child.pid!;
    await pause(hang, FAULT_MS, async () => {
      const until = Date.now() + FAULT_MS - 1000;
      await new Promise((r) => setTimeout(r, 1000));
      const since = Date.now();
      target.up();
      resolvedWhileHung = await waitForDelivery(receiver, {
        checkId: CHECK,
        type: "outage.resolved",
        since,
        timeoutMs: (until - Date.now()) / 2,
      }).then(
        () => true,
        () => false,
      );
      const reopenedAt = Date.now();
      target.down();
      reopenedWhileHung = await waitForDelivery(receiver, {
        checkId: CHECK,
        type: "outage.opened",
        since: reopenedAt,
        timeoutMs: Math.max(0, until - Date.now()),
      }).then(
        () => true,
        () => false,
      );
    });
    const faultEnd = Date.now();
    // The target is down again: whether as a new incident or the first one never closed, it is down.
    await waitForState(mesh.cp, CHECK, "down", 30_000).catch(fail("down after the hang"));
    await resolveOutage();
    // Soft, so a run reports this and the common assertions below together.
    expect
      .soft({ resolvedWhileHung, reopenedWhileHung }, "transitions decided and announced while ClickHouse was stopped")
      .toEqual({ resolvedWhileHung: true, reopenedWhileHung: true });
    await expectIntact(caseStart, faultEnd);
  }, 120_000);

  it("ClickHouse killed (-9) and restarted during an outage", async () => {
    const caseStart = await openOutage();
    await crashAndRestartClickHouse(mesh.ch);
    const faultEnd = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    await resolveOutage();
    await expectIntact(caseStart, faultEnd);
  }, 120_000);

  it("NATS restarted during an outage, with an agent killed (-9) while NATS is down: its outbox replays", async () => {
    const caseStart = await openOutage();
    const victim = mesh.agents[0]!;
    await mesh.nats.stop();
    // Agents keep probing; with no NATS their results go to their outboxes.
    await new Promise((r) => setTimeout(r, 3000));
    await kill9(victim.proc);
    await mesh.nats.restart();
    const { start } = await restartAgent(victim.id);
    const faultEnd = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    await resolveOutage();
    await expectIntact(caseStart, faultEnd);
    // The restart found what the killed process had written to its outbox while NATS was down.
    expect(start.outboxDepth, "outbox records found by the restarted agent").toBeGreaterThan(0);
  }, 120_000);

  it("an agent killed (-9) and restarted during an outage", async () => {
    const caseStart = await openOutage();
    const victim = mesh.agents[1]!;
    await kill9(victim.proc);
    await new Promise((r) => setTimeout(r, 2000));
    await restartAgent(victim.id);
    const faultEnd = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    await resolveOutage();
    await expectIntact(caseStart, faultEnd);
  }, 120_000);

  it("an agent whose clock runs 30 s fast, through an outage", async () => {
    // Restarted (gracefully) with its wall clock 30 s ahead; it stays so for the rest of the suite.
    const { agent: skewed } = await restartAgent(mesh.agents[2]!.id, {
      NODE_OPTIONS: `--import ${CLOCK_OFFSET}`,
      PROBEMESH_TEST_CLOCK_OFFSET_MS: "30000",
    });
    const caseStart = await openOutage();
    await resolveOutage();
    // Its results carry its own (skewed) startedAt: "after" is judged on its clock.
    await expectIntact(caseStart, (agentId) => caseStart + (agentId === skewed.id ? 30_000 : 0));
    expect(skewed.proc.exited()).toBe(false);
  }, 120_000);
});
