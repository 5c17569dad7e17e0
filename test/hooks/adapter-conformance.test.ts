// One conformance suite every hook adapter passes, each against its real counterpart started here:
// HAProxy (runtime API), PowerDNS (HTTP API), BIND 9 (RFC 2136 + TSIG), and local HTTP receivers
// for webhook, PagerDuty Events v2 and Alertmanager v4 payloads. The target's state is observed
// independently of the adapter (dig, HAProxy's socket, what the receiver got).
import { execFileSync } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import {
  ACTION_HOOK_TYPES,
  type ActionContext,
  createAdapters,
  type Hook,
  type HookAdapter,
  type HookEvent,
  type HookType,
  validateHook,
} from "@probemesh/control-plane";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBind, type BindServer } from "../harness/bind.js";
import { startHaproxy, type HaproxyServer } from "../harness/haproxy.js";
import { freePort } from "../harness/ports.js";
import { startPowerdns, type PowerdnsServer } from "../harness/powerdns.js";
import { outageEvent, startReceiver, type Receiver } from "./receiver.js";

type Observed = "failed-over" | "normal";

interface Fixture {
  type: HookType;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** API form of the hook (validated like the API does). */
  hookJson(): Record<string, unknown>;
  /** The same hook pointed at a target that never answers (or is not there). */
  unreachableJson(): Record<string, unknown>;
  /** Reads the target's state without the adapter. */
  observe(): Promise<Observed>;
  /** Arranges a situation in which failing over would remove the last healthy target; undone by the returned function. */
  lastHealthy?(): Promise<{ checkStates: Record<string, string>; undo: () => Promise<void> }>;
}

const log = pino({ level: "silent" });
const adapters = createAdapters();
let blackhole: Server;
let blackholePort: number;
const held = new Set<Socket>();
const silentUdpPort = { value: 0 };

function dig(addr: string, name: string): string[] {
  const [host, port] = addr.split(":");
  const out = execFileSync(
    "dig",
    [`@${host}`, "-p", String(port), name, "A", "+short", "+norecurse", "+time=2", "+tries=1"],
    { encoding: "utf8" },
  );
  return out.trim().split("\n").filter(Boolean).sort();
}

function ctx(hook: Hook, checkStates: Record<string, string> = {}): ActionContext {
  return {
    signal: AbortSignal.timeout(hook.timeoutMs),
    now: Date.now,
    log,
    deliveryId: "conformance",
    checkState: async (id) => checkStates[id],
  };
}

const PRIMARY = ["10.10.0.1"];
const STANDBY = ["10.20.0.1", "10.20.0.2"];

function dnsObserved(addrs: string[]): Observed {
  if (addrs.join() === STANDBY.join()) return "failed-over";
  if (addrs.join() === PRIMARY.join()) return "normal";
  throw new Error(`DNS answers neither primary nor standby: ${addrs.join(" ")}`);
}

function httpFixture(
  type: "webhook" | "pagerduty" | "alertmanager" | "slack",
  extra: Record<string, unknown>,
  meaning: (body: Record<string, unknown>) => Observed | "test",
): Fixture & { rcv?: Receiver } {
  const f: Fixture & { rcv?: Receiver } = {
    type,
    async setup() {
      f.rcv = await startReceiver();
      if (type === "pagerduty")
        f.rcv.reply = (b: string) => ({
          status: "success",
          message: "Event processed",
          dedup_key: (JSON.parse(b) as { dedup_key: string }).dedup_key,
        });
    },
    teardown: async () => f.rcv?.close(),
    hookJson: () => ({ id: `c-${type}`, type, url: f.rcv?.url, timeoutMs: 2000, ...extra }),
    unreachableJson: () => ({
      id: `c-${type}`,
      type,
      url: `http://127.0.0.1:${blackholePort}/hook`,
      timeoutMs: 500,
      ...extra,
    }),
    async observe() {
      const meanings = (f.rcv?.received ?? [])
        .map((r) => meaning(JSON.parse(r.body) as Record<string, unknown>))
        .filter((m) => m !== "test");
      return meanings.at(-1) ?? "normal";
    },
  };
  return f;
}

let haproxy: HaproxyServer;
let pdns: PowerdnsServer;
let bind: BindServer;

/** dedup_keys of PagerDuty test incidents (the trigger and its resolve). */
const pagerdutyTestKeys = new Set<string>();

const fixtures: Fixture[] = [
  httpFixture("webhook", {}, (b) =>
    b.type === "test" ? "test" : b.type === "outage.opened" ? "failed-over" : "normal",
  ),
  // A test event triggers and then resolves its own incident: both are the test, not a change.
  httpFixture("pagerduty", { pagerduty: { routingKey: "R0UTING0KEY" } }, (b) => {
    if ((b.payload as { class?: string } | undefined)?.class === "test") {
      pagerdutyTestKeys.add(String(b.dedup_key));
      return "test";
    }
    if (pagerdutyTestKeys.has(String(b.dedup_key))) return "test";
    return b.event_action === "trigger" ? "failed-over" : "normal";
  }),
  // Slack: what the message says it is (an incident ending any way reads "normal").
  httpFixture("slack", {}, (b) => {
    const text = String(b.text);
    if (text.startsWith("Test notification")) return "test";
    return text.startsWith("Outage opened") ? "failed-over" : "normal";
  }),
  httpFixture("alertmanager", { alertmanager: { labels: { team: "sre" } } }, (b) =>
    (b.commonLabels as { alertname?: string }).alertname === "ProbemeshTest"
      ? "test"
      : b.status === "firing"
        ? "failed-over"
        : "normal",
  ),
  {
    type: "haproxy",
    async setup() {
      haproxy = await startHaproxy({ servers: { primary: "127.0.0.1:1", standby: "127.0.0.1:2" } });
    },
    teardown: async () => haproxy?.dispose(),
    hookJson: () => ({
      id: "c-haproxy",
      type: "haproxy",
      timeoutMs: 2000,
      haproxy: { socket: haproxy.socket, backend: haproxy.backend, server: "primary" },
    }),
    unreachableJson: () => ({
      id: "c-haproxy",
      type: "haproxy",
      timeoutMs: 500,
      haproxy: { socket: `127.0.0.1:${blackholePort}`, backend: "be_app", server: "primary" },
    }),
    async observe() {
      const line = (await haproxy.command("show servers state be_app"))
        .split("\n")
        .find((l) => l.includes(" primary "));
      const admin = Number(line?.split(" ")[6]);
      return (admin & 1) === 1 ? "failed-over" : "normal";
    },
    async lastHealthy() {
      await haproxy.command("set server be_app/standby state maint");
      return {
        checkStates: {},
        undo: async () => void (await haproxy.command("set server be_app/standby state ready")),
      };
    },
  },
  {
    type: "powerdns",
    async setup() {
      pdns = await startPowerdns({ records: { www: PRIMARY } });
    },
    teardown: async () => pdns?.dispose(),
    hookJson: () => ({
      id: "c-powerdns",
      type: "powerdns",
      url: pdns.apiUrl,
      timeoutMs: 5000,
      powerdns: {
        apiKey: pdns.apiKey,
        zone: "example.test.",
        name: "www.example.test.",
        ttl: 30,
        primary: PRIMARY,
        standby: STANDBY,
        standbyCheckId: "web-standby",
        verifyServer: pdns.dnsAddr,
      },
    }),
    unreachableJson: () => ({
      id: "c-powerdns",
      type: "powerdns",
      url: `http://127.0.0.1:${blackholePort}`,
      timeoutMs: 500,
      powerdns: {
        apiKey: "k",
        zone: "example.test.",
        name: "www.example.test.",
        primary: PRIMARY,
        standby: STANDBY,
        verifyServer: pdns.dnsAddr,
      },
    }),
    observe: async () => dnsObserved(dig(pdns.dnsAddr, "www.example.test.")),
    lastHealthy: async () => ({ checkStates: { "web-standby": "down" }, undo: async () => {} }),
  },
  {
    type: "rfc2136",
    async setup() {
      bind = await startBind({ records: { www: PRIMARY } });
    },
    teardown: async () => bind?.dispose(),
    hookJson: () => ({
      id: "c-rfc2136",
      type: "rfc2136",
      timeoutMs: 5000,
      rfc2136: {
        server: bind.addr,
        tsig: bind.tsig,
        zone: "example.test.",
        name: "www.example.test.",
        ttl: 30,
        primary: PRIMARY,
        standby: STANDBY,
        standbyCheckId: "web-standby",
      },
    }),
    unreachableJson: () => ({
      id: "c-rfc2136",
      type: "rfc2136",
      timeoutMs: 500,
      rfc2136: {
        server: `127.0.0.1:${silentUdpPort.value}`,
        tsig: bind.tsig,
        zone: "example.test.",
        name: "www.example.test.",
        primary: PRIMARY,
        standby: STANDBY,
      },
    }),
    observe: async () => dnsObserved(dig(bind.addr, "www.example.test.")),
    lastHealthy: async () => ({ checkStates: { "web-standby": "down" }, undo: async () => {} }),
  },
];

beforeAll(async () => {
  // A TCP server that accepts and never answers: attempts must end at their timeout.
  blackhole = createServer((sock) => {
    held.add(sock);
    sock.on("close", () => held.delete(sock));
  });
  await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", () => r()));
  const a = blackhole.address();
  blackholePort = typeof a === "object" && a ? a.port : 0;
  // A UDP port nothing listens on (DNS UPDATE gets no answer: ICMP unreachable is ignored by UDP sockets).
  silentUdpPort.value = await freePort();
});
afterAll(async () => {
  for (const sock of held) sock.destroy();
  await new Promise<void>((r) => blackhole.close(() => r()));
});

const opened = (id = "o-conf"): HookEvent => outageEvent("outage.opened", { outageId: id }) as unknown as HookEvent;
const resolved = (id = "o-conf"): HookEvent => outageEvent("outage.resolved", { outageId: id }) as unknown as HookEvent;
const testEvent: HookEvent = {
  id: "test-1",
  type: "test",
  timestamp: new Date().toISOString(),
  data: { checkId: "web", state: "test", regions: {} },
};

// Incident ends that are not recoveries, and events about the check rather than the target.
const notRecovered = (id = "o-conf"): HookEvent[] => {
  const base = opened(id);
  const at = new Date().toISOString();
  const closed = { ...base.data, state: "abandoned", resolvedAt: Date.now() };
  return [
    {
      ...base,
      id: `${id}:incident.abandoned`,
      type: "incident.abandoned",
      timestamp: at,
      data: { ...closed, cause: "check.deleted" },
    },
    {
      ...base,
      id: `${id}:check.deleted`,
      type: "check.deleted",
      timestamp: at,
      data: { ...closed, state: "deleted", cause: "check.deleted" },
    },
    {
      ...base,
      id: `${id}:partial.absorbed`,
      type: "partial.absorbed",
      timestamp: at,
      data: { ...closed, state: "down", absorbedBy: "o-next" },
    },
    {
      id: "web:check.error:1",
      type: "check.error",
      timestamp: at,
      data: { checkId: "web", state: "unknown", regions: {}, reason: "error", message: "internal: x" },
    },
    {
      id: "web:check.error.resolved:1",
      type: "check.error.resolved",
      timestamp: at,
      data: { checkId: "web", state: "up", regions: {}, startedAt: 1, resolvedAt: 2, cause: "verdict" },
    },
  ];
};

describe.each(fixtures.map((f) => [f.type, f] as const))("hook adapter conformance: %s", (_name, f) => {
  let adapter: HookAdapter;
  let hook: Hook;
  beforeAll(async () => {
    await f.setup();
    adapter = adapters[f.type];
    hook = validateHook(f.hookJson(), { mode: "create" }).hook;
  }, 60_000);
  afterAll(async () => f.teardown());

  it("fails over on outage.opened and reads the change back", async () => {
    expect(await f.observe()).toBe("normal");
    const r = await adapter.apply(opened(), hook, ctx(hook));
    expect(r).toMatchObject({ ok: true });
    expect(r.error).toBeUndefined();
    expect(r.action).toBeTruthy();
    if (adapter.readBack) expect(r).toMatchObject({ verified: true });
    expect(await f.observe()).toBe("failed-over");
  });

  it("is idempotent: the same event applied again (a redelivery) leaves the same state", async () => {
    expect(await adapter.apply(opened(), hook, ctx(hook))).toMatchObject({ ok: true });
    expect(await f.observe()).toBe("failed-over");
  });

  it("verify() reports whether the target is in the state an event asks for", async () => {
    const v = await adapter.verify(opened(), hook, ctx(hook));
    expect(v.ok).toBe(true);
    if (adapter.readBack) {
      expect(v).toMatchObject({ verified: true });
      expect(v.observed).toBeTruthy();
      expect(await adapter.verify(resolved(), hook, ctx(hook))).toMatchObject({ ok: false, verified: false });
    }
  });

  it("a test event changes nothing", async () => {
    expect(await adapter.apply(testEvent, hook, ctx(hook))).toMatchObject({ ok: true });
    expect(await f.observe()).toBe("failed-over");
  });

  it("an incident abandoned (check deleted or replaced) or absorbed, check.deleted and check.error: actions keep the failed-over state, notifications close the incident", async () => {
    expect(await f.observe()).toBe("failed-over");
    const [abandoned, deleted, absorbed, error, errorResolved] = notRecovered();
    if (ACTION_HOOK_TYPES.includes(f.type)) {
      for (const e of [abandoned!, deleted!, absorbed!, error!, errorResolved!]) {
        const r = await adapter.apply(e, hook, ctx(hook));
        expect(r, e.type).toMatchObject({ ok: true });
        expect(r.action).toMatch(/^nothing to do/);
        expect(await f.observe()).toBe("failed-over");
      }
      return;
    }
    // Webhooks forward the event as it is; PagerDuty resolves, Alertmanager ends the alert.
    expect(await adapter.apply(abandoned!, hook, ctx(hook))).toMatchObject({ ok: true });
    expect(await f.observe()).toBe("normal");
    expect(await adapter.apply(opened(), hook, ctx(hook))).toMatchObject({ ok: true });
    expect(await adapter.apply(absorbed!, hook, ctx(hook))).toMatchObject({ ok: true });
    expect(await f.observe()).toBe("normal");
    expect(await adapter.apply(opened(), hook, ctx(hook))).toMatchObject({ ok: true });
  });

  it("fails back on outage.resolved", async () => {
    const r = await adapter.apply(resolved(), hook, ctx(hook));
    expect(r).toMatchObject({ ok: true });
    if (adapter.readBack) expect(r).toMatchObject({ verified: true });
    expect(await f.observe()).toBe("normal");
  });

  it("dry run: says what it would do and changes nothing", async () => {
    const dry = { ...hook, dryRun: true };
    const r = await adapter.apply(opened("o-dry"), dry, ctx(dry));
    expect(r).toMatchObject({ ok: true, dryRun: true });
    expect(r.action).toMatch(/^would /);
    expect(await f.observe()).toBe("normal");
  });

  it("an unreachable target is a retryable failure within the attempt timeout, never a throw", async () => {
    const bad = validateHook(f.unreachableJson(), { mode: "create" }).hook;
    const t0 = Date.now();
    const r = await adapter.apply(opened("o-unreach"), bad, ctx(bad));
    expect(Date.now() - t0).toBeLessThan(bad.timeoutMs + 1500);
    expect(r.ok).toBe(false);
    expect(r.error).toBeTruthy();
    expect(r.refused).toBeUndefined();
    expect(r.disable).toBeUndefined();
  });

  it("never removes the last healthy target (fail open), or for push-only receivers: 410 disables", async () => {
    if (!f.lastHealthy) {
      const rcv = (f as Fixture & { rcv: Receiver }).rcv;
      rcv.status = 410;
      const r = await adapter.apply(opened("o-gone"), hook, ctx(hook));
      rcv.status = 200;
      expect(r).toMatchObject({ ok: false, disable: true, status: 410 });
      return;
    }
    const { checkStates, undo } = await f.lastHealthy();
    try {
      const r = await adapter.apply(opened("o-last"), hook, ctx(hook, checkStates));
      expect(r.ok).toBe(false);
      expect(r.refused).toMatch(/fail open/);
      expect(await f.observe()).toBe("normal");
      // Dry run reports the refusal too.
      const dry = { ...hook, dryRun: true };
      expect((await adapter.apply(opened("o-last"), dry, ctx(dry, checkStates))).refused).toMatch(/fail open/);
    } finally {
      await undo();
    }
  });
});
