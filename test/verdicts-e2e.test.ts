// Verdicts users see, end to end through the built control plane on real NATS and ClickHouse: results
// are published as protobuf ProbeResults on agents' results subjects (as agents do), so each scenario
// controls exactly what every region reports. A check no prober can run is shown as an error (never an
// outage) and its check.error episode ends with check.error.resolved once the probes run again (the
// PagerDuty incident and the Alertmanager alert it opened close); a check down since its creation
// reads as mostly unavailable over a window that starts at its creation.
import { toBinary } from "@bufbuild/protobuf";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { verifyWebhook } from "@probemesh/control-plane";
import { partitionOf, ProbeResultSchema, ProbeState, resultSubject } from "@probemesh/proto";
import { probeResultFixture } from "@probemesh/proto/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClickHouse, type ClickHouseServer } from "./harness/clickhouse.js";
import { enrollAgent, startControlPlane, waitFor, type ControlPlane } from "./harness/mesh.js";
import { startNats, type NatsServer } from "./harness/nats.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const INTERVAL_MS = 1000;
/** Deadline for ingest + consensus + delivery after a change; generous for a loaded 2-core box. */
const DEADLINE_MS = 30_000;

/** What every region reports in a round. */
interface Report {
  state: ProbeState;
  reason: string;
  message: string;
}

interface EventBody {
  id: string;
  type: string;
  timestamp: string;
  data: { checkId: string; state: string; reason?: string; message?: string; startedAt?: number; cause?: string };
}

interface RegionBody {
  state: string;
  error?: string;
  agents: { agentId: string; error?: string }[];
}

describe("verdicts end to end: prober errors and availability", () => {
  let nats: NatsServer;
  let ch: ClickHouseServer;
  let cp: ControlPlane;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let feed: Receiver;
  let pd: Receiver;
  let am: Receiver;
  let secret = "";
  const publishers = new Map<string, { report: Report; stop: () => Promise<void> }>();
  let seq = 0;

  beforeAll(async () => {
    [nats, ch, feed, pd, am] = await Promise.all([
      startNats(),
      startClickHouse(),
      startReceiver(),
      startReceiver(),
      startReceiver(),
    ]);
    pd.reply = (body: string) => ({
      status: "success",
      dedup_key: (JSON.parse(body) as { dedup_key: string }).dedup_key,
    });
    cp = await startControlPlane({ natsUrl: nats.url, clickhouseUrl: ch.url, database: "pm_verdicts" });
    // Results count only from enrolled agents, each in its own region.
    for (const region of REGIONS) await enrollAgent(cp, { id: `agent-${region}`, region });
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    const hook = await post("/v1/hooks", { id: "feed", type: "webhook", url: feed.url });
    secret = ((await hook.json()) as { secret: string }).secret;
    // Notification hooks with their default events (which include check.error and its end).
    await post("/v1/hooks", { id: "pd", type: "pagerduty", url: pd.url, pagerduty: { routingKey: "R0UTINGKEY" } });
    await post("/v1/hooks", { id: "am", type: "alertmanager", url: am.url, checks: ["bad"] });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...publishers.values()].map((p) => p.stop()));
    await nc?.close();
    await cp?.stop();
    await Promise.all([nats?.dispose(), ch?.dispose(), feed?.close(), pd?.close(), am?.close()]);
  });

  async function post(path: string, body: unknown): Promise<Response> {
    const res = await cp.request(path, { method: "POST", body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(201);
    return res;
  }

  async function get<T>(path: string): Promise<T> {
    const res = await cp.request(path);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as T;
  }

  async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    try {
      return await waitFor(what, fn, DEADLINE_MS, 200);
    } catch (err) {
      throw new Error(`${String(err)}\n--- control-plane ---\n${cp.proc.output().slice(-4000)}`);
    }
  }

  /** Signed deliveries of the webhook feed for one check (verifying each is the consumer's own check). */
  function events(checkId: string): EventBody[] {
    return feed.received
      .map((r) => verifyWebhook<EventBody>(secret, r.headers as Record<string, string>, r.body))
      .filter((e) => e.data.checkId === checkId);
  }

  /** Publishes one result per region every half interval, as `agent-<region>` would, until stopped. */
  function keepReporting(checkId: string, report: Report): void {
    const entry = { report, stop: async () => {} };
    let running = true;
    const loop = (async () => {
      // Agents publish on their check's partition (the control plane's default count, 16).
      const { uid } = await get<{ uid: string }>(`/v1/checks/${checkId}`);
      const partition = partitionOf(uid, 16);
      while (running) {
        await Promise.all(
          REGIONS.map(async (region) => {
            const agentId = `agent-${region}`;
            const { state, reason, message } = entry.report;
            const r = probeResultFixture({
              id: `${checkId}-${region}-${++seq}`,
              checkId,
              checkVersion: 1,
              agentId,
              region,
              startedAtMs: BigInt(Date.now()),
              durationMs: 3,
              state,
              reason,
              message,
              seq: BigInt(seq),
              target: "127.0.0.1:1",
            });
            await js.publish(resultSubject(region, agentId, partition), toBinary(ProbeResultSchema, r), {
              msgID: r.id,
            });
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS / 2));
      }
    })();
    entry.stop = async () => {
      running = false;
      await loop;
    };
    publishers.set(checkId, entry);
  }

  async function createCheck(id: string): Promise<void> {
    await post("/v1/checks", {
      id,
      type: "tcp",
      intervalMs: INTERVAL_MS,
      timeoutMs: 500,
      regions: [...REGIONS],
      tcp: { host: "127.0.0.1", port: 1 },
    });
  }

  it("an unsupported check (no outage, error shown): every region reports an internal prober error", async () => {
    await createCheck("bad");
    const message = "invalid check: tcp option the agent cannot honour";
    keepReporting("bad", { state: ProbeState.DOWN, reason: "internal", message });

    const status = await eventually("bad shown as an error", async () => {
      const s = await get<{ state: string; reason: string; regions: Record<string, RegionBody> }>(
        "/v1/checks/bad/status",
      );
      return s.reason === "error" && Object.values(s.regions).every((r) => r.state === "error") ? s : undefined;
    });
    expect(status.state).toBe("unknown");
    expect(Object.keys(status.regions).sort()).toEqual([...REGIONS].sort());
    for (const [region, r] of Object.entries(status.regions)) {
      expect(r.error).toBe(`agent agent-${region}: internal: ${message}`);
      expect(r.agents).toMatchObject([{ agentId: `agent-${region}`, error: `internal: ${message}` }]);
    }

    const error = await eventually("check.error at the feed", async () =>
      events("bad").find((e) => e.type === "check.error"),
    );
    expect(error.data).toMatchObject({ checkId: "bad", state: "unknown", reason: "error" });
    expect(error.data.message).toContain(message);
    // Keyed by its episode (the check's uid and the first prober error's startedAt), not a replica's clock.
    expect(error.id).toMatch(/^error:bad:[0-9a-f]{8}:\d+:check\.error$/);

    // Two more rounds of errors from every region: still no incident of any kind, no second check.error.
    const errorAt = Date.parse(error.timestamp);
    await eventually("two more rounds after check.error", async () => {
      const s = await get<{ regions: Record<string, { lastResultAt: number }> }>("/v1/checks/bad/status");
      return Object.values(s.regions).every((r) => r.lastResultAt > errorAt + INTERVAL_MS);
    });
    expect(await get<unknown[]>("/v1/outages?checkId=bad")).toEqual([]);
    expect(await get<unknown[]>("/v1/outages?checkId=bad&kind=outage,partial,region")).toEqual([]);
    expect(events("bad").map((e) => e.type)).toEqual(["check.error"]);

    // The probes run again: the check is judged, and the episode ends with one check.error.resolved.
    publishers.get("bad")!.report = { state: ProbeState.UP, reason: "", message: "" };
    const resolved = await eventually("check.error.resolved at the feed", async () =>
      events("bad").find((e) => e.type === "check.error.resolved"),
    );
    expect(resolved).toMatchObject({
      // The episode's id (from result data), the same as its check.error's.
      id: error.id.replace(/:check\.error$/, ":check.error.resolved"),
      data: { checkId: "bad", startedAt: errorAt, cause: "verdict" },
    });
    await eventually("bad up", async () => (await get<{ state: string }>("/v1/checks/bad/status")).state === "up");
    expect(events("bad").map((e) => e.type)).not.toContain("outage.opened");
    expect(await get<unknown[]>("/v1/outages?checkId=bad")).toEqual([]);
    await publishers.get("bad")!.stop();

    // PagerDuty: one incident for the check's prober errors, triggered then resolved.
    const pages = await eventually("PagerDuty resolve", async () => {
      const b = pd.received.map((r) => JSON.parse(r.body) as { event_action: string; dedup_key: string });
      const mine = b.filter((x) => x.dedup_key.startsWith("bad:"));
      return mine.some((x) => x.event_action === "resolve") ? mine : undefined;
    });
    expect(pages.map((b) => [b.event_action, b.dedup_key])).toEqual([
      ["trigger", "bad:check.error"],
      ["resolve", "bad:check.error"],
    ]);
    // Alertmanager: the ProbemeshCheckError alert fires, then ends at the episode's end.
    type Alert = { status: string; labels: Record<string, string>; endsAt: string };
    const alerts = await eventually("ProbemeshCheckError resolved", async () => {
      const list = am.received.flatMap((r) => (JSON.parse(r.body) as { alerts: Alert[] }).alerts);
      return list.some((a) => a.status === "resolved") ? list : undefined;
    });
    expect(alerts.map((a) => [a.labels.alertname, a.status])).toEqual([
      ["ProbemeshCheckError", "firing"],
      ["ProbemeshCheckError", "resolved"],
    ]);
    expect(Date.parse(alerts[1]!.endsAt)).toBe(Date.parse(resolved.timestamp));
  });

  it("availability of a check down since creation (< 50 % over 1 h)", async () => {
    const before = Date.now();
    await createCheck("dead");
    keepReporting("dead", { state: ProbeState.DOWN, reason: "connect", message: "connection refused" });

    const outage = await eventually("dead's outage open", async () => {
      const list = await get<{ kind: string; state: string; startedAt: number }[]>("/v1/outages?checkId=dead");
      return list.find((o) => o.kind === "outage" && o.state === "open");
    });
    expect(outage.startedAt).toBeGreaterThanOrEqual(before);
    // The incident is stored before its hook delivery arrives: wait for the delivery, not the row.
    await eventually("outage.opened at the feed", async () => events("dead").find((e) => e.type === "outage.opened"));

    interface Report {
      from: number;
      windowMs: number;
      noDataMs: number;
      downtimeMs: number;
      availability: number | null;
    }
    // Down from its first result on: the share of downtime only grows, so it soon reads below 50 %.
    const report = await eventually("availability below 50 %", async () => {
      const r = await get<Report>("/v1/checks/dead/availability?window=1h");
      return r.availability !== null && r.availability < 50 ? r : undefined;
    });
    const after = Date.now();
    // The window starts at the check's creation, not an hour ago: time before it existed is not uptime.
    expect(report.from).toBeGreaterThanOrEqual(before);
    expect(report.windowMs).toBeGreaterThan(0);
    expect(report.windowMs).toBeLessThanOrEqual(after - before + 1000);
    expect(report.noDataMs).toBeLessThanOrEqual(5000);
    expect(report.downtimeMs).toBeGreaterThan((report.windowMs - report.noDataMs) / 2);
    await publishers.get("dead")!.stop();
  });
});
