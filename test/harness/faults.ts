// The fault suite's tools: a target whose up/down timeline is recorded, a receiver that verifies every
// signed delivery, the assertions every fault case makes (results stored exactly once, each
// transition announced once, no recovery announced while the target is down) and the faults
// themselves (SIGSTOP/SIGCONT, SIGKILL). Processes are only ever signalled by their own PID.
import { createConnection, createServer, type AddressInfo, type Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { verifyWebhook } from "@probemesh/control-plane";
import { partitionOf } from "@probemesh/proto";
import { expect } from "vitest";
import { startReceiver, type Receiver } from "../hooks/receiver.js";
import type { ClickHouseServer } from "./clickhouse.js";
import type { Agent, ControlPlane, Mesh } from "./mesh.js";
import type { Managed } from "./process.js";
import { startFlipTarget, type FlipTarget } from "./targets.js";
import { waitFor } from "./process.js";

/** Check interval of the fault suite: 1 s checks, thresholds 2/2, so an outage is decided in ~2–3 s. */
export const FAULT_CHECK = { intervalMs: 1000, timeoutMs: 500, failureThreshold: 2, recoveryThreshold: 2 } as const;

/** A {@link FlipTarget} that remembers when it went down and came back. */
export interface TrackedTarget {
  readonly port: number;
  readonly url: string;
  /** [downAt, upAt) intervals, epoch ms; the last one open (upAt undefined) while it is down. */
  readonly timeline: readonly { downAt: number; upAt?: number }[];
  isDown(): boolean;
  down(): void;
  up(): void;
  close(): void;
}

/** Starts a healthy {@link TrackedTarget} on 127.0.0.1. */
export async function startTrackedTarget(): Promise<TrackedTarget> {
  const flip: FlipTarget = await startFlipTarget();
  const timeline: { downAt: number; upAt?: number }[] = [];
  return {
    port: flip.port,
    url: `http://127.0.0.1:${flip.port}/`,
    timeline,
    isDown: () => !flip.healthy,
    down() {
      if (!flip.healthy) return;
      timeline.push({ downAt: Date.now() });
      flip.healthy = false;
    },
    up() {
      if (flip.healthy) return;
      flip.healthy = true;
      timeline.at(-1)!.upAt = Date.now();
    },
    close: () => flip.close(),
  };
}

/** A hook event as a receiver gets it. */
export interface HookEvent {
  id: string;
  type: string;
  data: { checkId: string; outageId?: string; state: string; startedAt?: number; confirmedAt?: number };
}

/** One verified delivery: the event, its webhook-id, when it arrived and whether the target was down then. */
export interface Delivery {
  at: number;
  webhookId: string;
  event: HookEvent;
  /** The target was down when it arrived (recorded by the receiver, not computed afterwards). */
  targetDown: boolean;
}

/** A webhook receiver that verifies every delivery's signature with the hook's secret. */
export interface SignedReceiver {
  readonly receiver: Receiver;
  readonly url: string;
  /** Set once the hook exists (its secret is returned once, at creation). */
  secret: string;
  /** Every delivery so far, verified; throws when one does not verify. */
  deliveries(): Delivery[];
  close(): Promise<void>;
}

/** Starts a receiver that records, for each delivery, whether `target` was down when it arrived. */
export async function startSignedReceiver(target: Pick<TrackedTarget, "isDown">): Promise<SignedReceiver> {
  const receiver = await startReceiver();
  const downAt = new Map<number, boolean>();
  // The receiver appends in its request handler; sample the target there (a poll could miss a flip).
  const push = receiver.received.push.bind(receiver.received);
  receiver.received.push = (...items) => {
    for (const item of items) downAt.set(receiver.received.length + items.indexOf(item), target.isDown());
    return push(...items);
  };
  const self: SignedReceiver = {
    receiver,
    url: receiver.url,
    secret: "",
    deliveries: () =>
      receiver.received.map((r, i) => ({
        at: r.at,
        webhookId: String(r.headers["webhook-id"] ?? ""),
        // Verified as at its arrival: the signature's timestamp tolerance is about delivery, not this check.
        event: verifyWebhook<HookEvent>(self.secret, r.headers as Record<string, string>, r.body, { now: () => r.at }),
        targetDown: downAt.get(i) ?? false,
      })),
    close: () => receiver.close(),
  };
  return self;
}

/** Creates the `outage.opened`/`outage.resolved` webhook hook and a 1 s HTTP check on the target; waits until it is up. */
export async function setUpOutageCheck(
  cp: ControlPlane,
  opts: {
    checkId: string;
    target: TrackedTarget;
    receiver: SignedReceiver;
    /** Where the control plane delivers (a relay to the receiver); default the receiver's URL. */
    hookUrl?: string;
  },
): Promise<{ uid: string }> {
  const hook = await cp.request("/v1/hooks", {
    method: "POST",
    body: JSON.stringify({
      id: `faults-${opts.checkId}`,
      type: "webhook",
      url: opts.hookUrl ?? opts.receiver.url,
      events: ["outage.opened", "outage.resolved"],
      checks: [opts.checkId],
    }),
  });
  if (hook.status !== 201) throw new Error(`creating the hook: ${hook.status} ${await hook.text()}`);
  opts.receiver.secret = ((await hook.json()) as { secret: string }).secret;
  const check = await cp.request("/v1/checks", {
    method: "POST",
    body: JSON.stringify({ id: opts.checkId, type: "http", ...FAULT_CHECK, http: { url: opts.target.url } }),
  });
  if (check.status !== 201) throw new Error(`creating the check: ${check.status} ${await check.text()}`);
  const { uid } = (await check.json()) as { uid: string };
  await waitForState(cp, opts.checkId, "up", 60_000);
  return { uid };
}

/** Waits until the check's global state is `state` on `cp`. */
export async function waitForState(cp: ControlPlane, checkId: string, state: string, timeoutMs = 30_000) {
  await waitFor(
    `${checkId} ${state}`,
    async () => {
      const res = await cp.request(`/v1/checks/${checkId}/status`);
      return res.status === 200 && ((await res.json()) as { state: string }).state === state;
    },
    timeoutMs,
    250,
  );
}

/** Waits for a verified delivery of `type` for `checkId` that arrived at or after `since`; returns it. */
export async function waitForDelivery(
  receiver: SignedReceiver,
  opts: { checkId: string; type: "outage.opened" | "outage.resolved"; since: number; timeoutMs?: number },
): Promise<Delivery> {
  return waitFor(
    `${opts.type} for ${opts.checkId}`,
    () =>
      receiver
        .deliveries()
        .find((d) => d.at >= opts.since && d.event.type === opts.type && d.event.data.checkId === opts.checkId),
    opts.timeoutMs ?? 30_000,
    50,
  );
}

/**
 * What is wrong with the announcements of `checkId` (empty when nothing): every incident (outageId)
 * has one webhook-id per transition type (redeliveries of the same id are fine: receivers dedupe
 * them), every down interval of the target that lasted until an announcement has exactly one
 * `outage.opened` incident and exactly one `outage.resolved` for it once the target is back, and no
 * `outage.resolved` arrived while the target was down. `since` limits the judgement to deliveries
 * and down intervals from then on (one case of a suite that shares a target).
 */
export function announcedOnce(
  receiver: SignedReceiver,
  checkId: string,
  target: TrackedTarget,
  opts: { since?: number } = {},
): string[] {
  const since = opts.since ?? 0;
  const problems: string[] = [];
  const mine = receiver.deliveries().filter((d) => d.event.data.checkId === checkId && d.at >= since);
  const ids = new Map<string, Set<string>>();
  for (const d of mine) {
    const key = `${d.event.data.outageId ?? "?"} ${d.event.type}`;
    ids.set(key, (ids.get(key) ?? new Set()).add(d.webhookId));
  }
  for (const [key, set] of ids)
    if (set.size > 1) problems.push(`${key}: ${set.size} webhook-ids (${[...set].join(", ")})`);
  for (const d of mine)
    if (d.event.type === "outage.resolved" && d.targetDown)
      problems.push(
        `outage.resolved ${d.event.data.outageId} arrived at ${new Date(d.at).toISOString()} while the target was down`,
      );
  const opened = mine.filter((d) => d.event.type === "outage.opened");
  const resolved = mine.filter((d) => d.event.type === "outage.resolved");
  for (const [i, span] of target.timeline.entries()) {
    if (span.downAt < since) continue;
    // An incident belongs to the down interval in which it was confirmed. Not the one containing its
    // start: a region that had not yet recovered when the target failed again keeps the first failure
    // of its streak, so an outage confirmed in this interval may start in the previous one.
    const inSpan = (t: number | undefined) =>
      t !== undefined && t >= span.downAt && (span.upAt === undefined || t < span.upAt);
    const incidents = new Set(
      opened.filter((d) => inSpan(d.event.data.confirmedAt ?? d.at)).map((d) => d.event.data.outageId),
    );
    const label = `down interval #${i + 1} (${new Date(span.downAt).toISOString()}..${span.upAt ? new Date(span.upAt).toISOString() : "now"})`;
    if (incidents.size !== 1) {
      problems.push(`${label}: ${incidents.size} outage.opened incidents (${[...incidents].join(", ")})`);
      continue;
    }
    const [outageId] = incidents;
    const recoveries = new Set(resolved.filter((d) => d.event.data.outageId === outageId).map((d) => d.webhookId));
    if (span.upAt !== undefined && recoveries.size !== 1)
      problems.push(`${label}: ${recoveries.size} outage.resolved for ${outageId}`);
  }
  return problems;
}

/** One agent's stored results, as {@link storedExactlyOnce} judged them. */
export interface AgentResults {
  agentId: string;
  rows: number;
  firstSeq: number;
  lastSeq: number;
  lastStartedAt: number;
  /** Seqs missing between first and last, as ranges. */
  missing: string[];
  /** Result ids with more than one row after ReplacingMergeTree collapsing (FINAL), or several seqs. */
  duplicates: string[];
}

/**
 * Reads every agent's results (`results FINAL`: rows a reader could tell apart) and checks that
 * each agent's `seq` runs without a hole from the first stored to the last and that no result id is
 * stored twice. Any break is missing, a crash's included: an agent killed with SIGKILL resumes
 * right after the last seq it released (agent/src/publish/seq-counter.ts).
 */
export async function storedExactlyOnce(
  ch: ClickHouseServer,
  agents: readonly Pick<Agent, "id">[],
  opts: { database?: string } = {},
): Promise<AgentResults[]> {
  const db = opts.database ?? "probemesh";
  const ids = agents.map((a) => `'${a.id.replace(/[^A-Za-z0-9_.-]/g, "")}'`).join(",");
  const rows = await ch.rows<{ agent_id: string; seq: string; ids: string; n: string; started: string }>(
    `SELECT agent_id, seq, uniqExact(id) AS ids, count() AS n, max(started_at) AS started
     FROM ${db}.results FINAL WHERE agent_id IN (${ids}) GROUP BY agent_id, seq ORDER BY agent_id, seq`,
  );
  const byId = await ch.rows<{ agent_id: string; id: string; n: string }>(
    `SELECT agent_id, id, count() AS n FROM ${db}.results FINAL WHERE agent_id IN (${ids})
     GROUP BY agent_id, id HAVING n > 1`,
  );
  return agents.map(({ id }) => {
    const mine = rows.filter((r) => r.agent_id === id).map((r) => ({ ...r, seq: Number(r.seq) }));
    const out: AgentResults = {
      agentId: id,
      rows: mine.reduce((n, r) => n + Number(r.n), 0),
      firstSeq: mine[0]?.seq ?? 0,
      lastSeq: mine.at(-1)?.seq ?? 0,
      lastStartedAt: mine.reduce((t, r) => Math.max(t, Number(r.started)), 0),
      missing: [],
      duplicates: byId.filter((r) => r.agent_id === id).map((r) => `${r.id} ×${r.n}`),
    };
    for (const r of mine) if (Number(r.n) > 1) out.duplicates.push(`seq ${r.seq}: ${r.n} rows, ${r.ids} ids`);
    for (let i = 1; i < mine.length; i++) {
      const [a, b] = [mine[i - 1]!.seq, mine[i]!.seq];
      if (b === a + 1) continue;
      out.missing.push(`${a + 1}..${b - 1}`);
    }
    return out;
  });
}

/**
 * Waits (default 30 s) until every agent's results are stored exactly once and each has one that
 * started after `after` (by that agent's clock when `after` is a function of the agent id), so nothing
 * probed before it is still in flight. Returns what is still wrong (empty when nothing), per agent.
 */
export async function waitStoredExactlyOnce(
  ch: ClickHouseServer,
  agents: readonly Pick<Agent, "id">[],
  opts: {
    after: number | ((agentId: string) => number);
    timeoutMs?: number;
  },
): Promise<string[]> {
  const after = typeof opts.after === "number" ? () => opts.after as number : opts.after;
  const problems = (results: AgentResults[]) =>
    results.flatMap((a) => {
      const p: string[] = [];
      const where = `${a.agentId} (seq ${a.firstSeq}..${a.lastSeq}, ${a.rows} rows)`;
      if (a.rows === 0) p.push(`${a.agentId}: no results stored`);
      if (a.missing.length) p.push(`${where}: seq missing ${a.missing.join(" ")}`);
      if (a.duplicates.length) p.push(`${where}: stored twice ${a.duplicates.join(" ")}`);
      if (a.lastStartedAt <= after(a.agentId))
        p.push(`${where}: nothing stored that started after ${new Date(after(a.agentId)).toISOString()}`);
      return p;
    });
  let last: string[] = [];
  await waitFor(
    "every agent's results stored exactly once",
    async () => {
      last = problems(await storedExactlyOnce(ch, agents));
      return last.length === 0;
    },
    opts.timeoutMs ?? 30_000,
    500,
  ).catch(() => undefined);
  return last;
}

/** What a (re)started agent logged in its "agent starting" line: its seq high-water mark and outbox depth. */
export interface AgentStart {
  lastSeq: number;
  outboxDepth: number;
}

/** Waits for the "agent starting" line of a just started agent process and returns what it says. */
export async function agentStarted(agent: Pick<Agent, "proc">, timeoutMs = 20_000): Promise<AgentStart> {
  return waitFor(
    `${agent.proc.name} starting`,
    () => {
      if (agent.proc.exited()) throw new Error(`${agent.proc.name} exited:\n${agent.proc.output().slice(-3000)}`);
      const line = agent.proc
        .output()
        .split("\n")
        .find((l) => l.startsWith("{") && l.includes('"agent starting"'));
      if (!line) return undefined;
      const { lastSeq, outboxDepth } = JSON.parse(line) as { lastSeq?: string; outboxDepth?: number };
      return { lastSeq: Number(lastSeq ?? 0), outboxDepth: outboxDepth ?? 0 };
    },
    timeoutMs,
    50,
  );
}

/** Stops `pid` with SIGSTOP for `ms`, then SIGCONT; the SIGCONT is sent even when the wait is interrupted. */
export async function pause(pid: number, ms: number, during?: () => Promise<void>): Promise<void> {
  process.kill(pid, "SIGSTOP");
  try {
    const until = Date.now() + ms;
    await during?.();
    const rest = until - Date.now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  } finally {
    process.kill(pid, "SIGCONT");
  }
}

/** SIGKILL to one managed process (by its PID, via its handle); resolves once it has exited. */
export async function kill9(p: Managed): Promise<void> {
  await p.kill();
}

/** A ClickHouse crash: SIGKILL, then a start on the same ports and data. */
export async function crashAndRestartClickHouse(ch: ClickHouseServer): Promise<void> {
  await ch.proc.kill();
  await ch.restart();
}

/** The lease of `partition` in the `probemesh_leases` bucket (HA-PLAN.md: key `partition.<n>`). */
export interface Lease {
  owner: string;
  epoch: number;
  since: number;
}

/** Reads the lease of a partition, or undefined when the key is absent or deleted. */
export async function readLease(nc: NatsConnection, partition: number): Promise<Lease | undefined> {
  const kv = await new Kvm(nc).open("probemesh_leases");
  const e = await kv.get(`partition.${partition}`);
  if (!e || e.operation !== "PUT" || e.value.length === 0) return undefined;
  return e.json<Lease>();
}

/** The partition of a check (same hash as the control plane: `partitionOf(uid, P)`). */
export function partitionOfCheck(uid: string, partitions: number): number {
  return partitionOf(uid, partitions);
}

/** A TCP relay listening on `host` (port chosen by the kernel) to `to`; for servers bound to 127.0.0.1 only. */
export interface Relay {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Relays connections on `host` to `to` (e.g. ClickHouse on 127.0.0.1 for a process in a network namespace). */
export async function startRelay(host: string, to: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = createConnection(to);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The steps every fault case shares: an outage opened before the fault, resolved after it, and the final assertions. */
export interface OutageCase {
  /**
   * Target up and the check up (as `api` sees it), then the target down everywhere; resolves once
   * `outage.opened` was received, with the time the target went down (the case's start).
   */
  open(api?: ControlPlane): Promise<number>;
  /** Target back; resolves once `outage.resolved` was received. */
  resolve(): Promise<void>;
  /**
   * The assertions every case ends with: every agent's results stored exactly once within 30 s of
   * `faultEnd` (by each agent's clock when a function of the agent id: per-agent seq contiguous, no
   * result id twice), and since `caseStart` each transition announced once (one webhook-id per
   * incident and type), no `outage.resolved` while the target was down, recovery announced once.
   */
  expectIntact(caseStart: number, faultEnd: number | ((agentId: string) => number)): Promise<void>;
  /** Wraps an error with the mesh's diagnostics. */
  fail(what: string): (err: unknown) => never;
}

/**
 * What to read when a transition was announced wrongly: the receiver's deliveries of `checkId` since
 * `since` (arrival, webhook-id, event, whether the target was down) and the replicas' and agents'
 * log lines about hook deliveries and leases.
 */
function deliveryTrail(
  opts: { mesh: () => Pick<Mesh, "diagnostics">; receiver: () => SignedReceiver },
  checkId: string,
  since: number,
): string {
  const received = opts
    .receiver()
    .deliveries()
    .filter((d) => d.event.data.checkId === checkId && d.at >= since)
    .map(
      (d) =>
        `${new Date(d.at).toISOString()} ${d.webhookId} ${d.event.type} ${d.event.data.outageId ?? ""}${d.targetDown ? " (target down)" : ""}`,
    );
  const logged = opts
    .mesh()
    .diagnostics(1_000_000)
    .split("\n")
    .filter((l) => l.startsWith("---") || /hook-deliveries|lease|partition/.test(l))
    .map((l) => l.slice(0, 600));
  return `received:\n${received.join("\n")}\nlogged:\n${logged.slice(-150).join("\n")}`;
}

/** The {@link OutageCase} of `checkId` on `mesh()` (a getter: the mesh is started in beforeAll). */
export function outageCase(opts: {
  mesh: () => Pick<Mesh, "cp" | "ch" | "agents" | "diagnostics">;
  checkId: string;
  target: () => TrackedTarget;
  receiver: () => SignedReceiver;
  /** Extra diagnostics on failure (e.g. NATS nodes' logs). */
  diagnostics?: () => string;
}): OutageCase {
  const { checkId } = opts;
  const fail =
    (what: string) =>
    (err: unknown): never => {
      throw new Error(`${what}: ${String(err)}\n${opts.mesh().diagnostics(2500)}\n${opts.diagnostics?.() ?? ""}`);
    };
  return {
    fail,
    async open(api = opts.mesh().cp) {
      const target = opts.target();
      target.up(); // a previous case that failed half-way may have left it down
      await waitForState(api, checkId, "up", 30_000).catch(fail("check up before the case"));
      const since = Date.now();
      target.down();
      await waitForDelivery(opts.receiver(), { checkId, type: "outage.opened", since }).catch(fail("outage.opened"));
      return since;
    },
    async resolve() {
      const since = Date.now();
      opts.target().up();
      await waitForDelivery(opts.receiver(), { checkId, type: "outage.resolved", since }).catch(
        fail("outage.resolved"),
      );
    },
    async expectIntact(caseStart, faultEnd) {
      const mesh = opts.mesh();
      const stored = await waitStoredExactlyOnce(mesh.ch, mesh.agents, { after: faultEnd });
      expect.soft(stored, "every agent's results stored exactly once within 30 s of the fault's end").toEqual([]);
      const problems = announcedOnce(opts.receiver(), checkId, opts.target(), { since: caseStart });
      expect(
        problems,
        problems.length ? `each transition announced once\n${deliveryTrail(opts, checkId, caseStart)}` : undefined,
      ).toEqual([]);
    },
  };
}
