import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createSecretBox, generateKeySpec, parseKeyRing } from "../../trust/secret-box.js";
import { openHook, sealHook } from "../../trust/hook-secrets.js";
import type { HookEvent, HookEventType } from "../types.js";
import { MASK, publicHook, validateHook } from "../validate-hook.js";
import { createSlackAdapter, slackEscape, slackPayload } from "./slack.js";
import type { ActionContext } from "./types.js";

const SLACK_URL = "https://hooks.slack.com/services/T000/B000/s3cr3tT0ken";
const regions = { "eu-west": { state: "down", since: 600 }, "us-east": { state: "up", since: 100 } };

function event(type: HookEventType | "test", data: Partial<HookEvent["data"]> = {}): HookEvent {
  return {
    id: `outage:web:1000:${type}`,
    type,
    timestamp: new Date(1000).toISOString(),
    data: { checkId: "web", state: "down", regions, startedAt: 500, reason: "connect", ...data },
  };
}

const textOf = (e: HookEvent) => slackPayload(e).text;

describe("slackPayload", () => {
  it("is {text, blocks}: a mrkdwn section with the same facts, and a context line", () => {
    const p = slackPayload(event("outage.opened", { outageId: "outage:web:1000" }));
    expect(Object.keys(p).sort()).toEqual(["blocks", "text"]);
    expect(p.text.split("\n")[0]).toBe("Outage opened: check web is down");
    expect(p.text).toContain("Regions: eu-west down since 1970-01-01T00:00:00.600Z, us-east up");
    expect(p.text).toContain("Reason: connect");
    expect(p.text).toContain("Since: 1970-01-01T00:00:00.500Z");
    expect(p.text).toContain("Incident: outage:web:1000");
    expect(p.blocks).toHaveLength(2);
    expect(p.blocks[0]).toMatchObject({ type: "section", text: { type: "mrkdwn", verbatim: true } });
    expect((p.blocks[0] as { text: { text: string } }).text.text).toMatch(/^\*Outage opened: check web is down\*\n/);
    expect(p.blocks[1]).toMatchObject({ type: "context" });
    expect(JSON.stringify(p)).not.toMatch(/https?:\/\//);
  });

  it("says what happened for every event type", () => {
    const heads: [HookEventType | "test", Partial<HookEvent["data"]>, string][] = [
      ["outage.resolved", { state: "up", resolvedAt: 2000 }, "Outage resolved: check web is up"],
      ["partial.opened", { state: "partial" }, "Partial outage opened: check web is down in some regions"],
      ["partial.resolved", { state: "up" }, "Partial outage resolved: check web is up"],
      ["check.degraded", { state: "degraded" }, "Degraded: check web is slow"],
      ["check.recovered", { state: "up" }, "Recovered: check web is up"],
      ["check.error", { state: "unknown", message: "bad regex" }, "Error: check web cannot be probed"],
      ["check.error.resolved", { state: "up" }, "Error resolved: check web is probed again"],
      ["test", {}, "Test notification from probemesh"],
      [
        "incident.abandoned",
        { cause: "check.deleted" },
        "incident.abandoned: abandoned, not recovered: check web was deleted",
      ],
      ["partial.absorbed", { absorbedBy: "outage:web:2" }, "absorbed by outage outage:web:2: not a recovery"],
    ];
    for (const [type, data, head] of heads) expect(textOf(event(type, data)).split("\n")[0]).toContain(head);
    expect(textOf(event("outage.resolved", { resolvedAt: 2000 }))).toContain("Ended: 1970-01-01T00:00:02.000Z");
    expect(textOf(event("check.error", { message: "bad regex" }))).toContain("Message: bad regex");
  });

  it("names the check (escaped) and its id when it has a name", () => {
    const p = slackPayload(event("check.degraded", { state: "degraded" }), "A & B");
    expect(p.text.split("\n")[0]).toBe("Degraded: check A &amp; B is slow");
    expect(p.text).toContain("Check: web (A &amp; B)");
    expect(slackPayload(event("check.degraded"), "web").text).toContain("Check: web\n");
  });

  it("escapes Slack's control characters in reasons and messages: no link, no mention", () => {
    const p = slackPayload(
      event("check.error", { reason: "<!channel> & <https://evil.test|click>", message: "a > b" }),
    );
    expect(p.text).toContain("Reason: &lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;");
    expect(p.text).toContain("Message: a &gt; b");
    expect(JSON.stringify(p.blocks)).not.toMatch(/<|>/);
    expect(slackEscape("a&b<c>d")).toBe("a&amp;b&lt;c&gt;d");
  });

  it("keeps each text under Slack's 3000-character limit", () => {
    const p = slackPayload(event("outage.opened", { reason: "x".repeat(5000) }));
    expect(p.text.length).toBeLessThanOrEqual(3000);
    expect((p.blocks[0] as { text: { text: string } }).text.text.length).toBeLessThanOrEqual(3000);
  });
});

describe("slack hooks", () => {
  it("mask the whole URL in answers; the mask sent back keeps it; it is not signed", () => {
    const { hook, generatedSecret } = validateHook({ id: "chat", type: "slack", url: SLACK_URL }, { mode: "create" });
    expect(generatedSecret).toBeUndefined();
    expect(hook.secret).toBe("");
    expect(hook.events).toEqual([
      "outage.opened",
      "outage.resolved",
      "incident.abandoned",
      "check.error",
      "check.error.resolved",
    ]);
    const shown = publicHook({ hook, createdAt: 1, updatedAt: 1 });
    expect(shown.url).toBe(MASK);
    expect(JSON.stringify(shown)).not.toContain("s3cr3t");
    const { hook: kept } = validateHook({ ...shown }, { mode: "replace", id: "chat", existing: hook });
    expect(kept.url).toBe(SLACK_URL);
  });

  it("refuse a missing or bad URL, the mask without a stored hook, a secret and check.deleted, never echoing the URL", () => {
    const problems = (json: object): string => {
      try {
        validateHook(json, { mode: "create" });
        return "";
      } catch (err) {
        return JSON.stringify((err as { details?: unknown }).details);
      }
    };
    expect(problems({ id: "c", type: "slack" })).toContain('"url"');
    expect(problems({ id: "c", type: "slack", url: MASK })).toContain("masked value");
    expect(problems({ id: "c", type: "slack", url: "ftp://x/s3cr3t" })).not.toContain("s3cr3t");
    expect(problems({ id: "c", type: "slack", url: SLACK_URL, secret: "whsec_x" })).toContain("not signed");
    expect(problems({ id: "c", type: "slack", url: SLACK_URL, events: ["check.deleted"] })).toContain("ignore");
  });

  it("are sealed whole at rest and open back", () => {
    const box = createSecretBox(parseKeyRing(generateKeySpec("k1")).ring);
    const { hook } = validateHook({ id: "chat", type: "slack", url: SLACK_URL }, { mode: "create" });
    const sealed = sealHook(hook, box);
    expect(JSON.stringify(sealed)).not.toMatch(/s3cr3t|hooks\.slack\.com/);
    expect(openHook(sealed, box)).toEqual({ hook, stale: false });
  });
});

describe("the slack adapter", () => {
  async function receiver() {
    const got: { headers: Record<string, unknown>; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        got.push({ headers: req.headers, body });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    return { got, url: `http://127.0.0.1:${port}/services/T/B/tok`, close: () => server.close() };
  }
  const ctx = (checkName?: ActionContext["checkName"]): ActionContext => ({
    signal: AbortSignal.timeout(5000),
    now: Date.now,
    log: pino({ level: "silent" }),
    deliveryId: "d1",
    checkState: async () => undefined,
    ...(checkName ? { checkName } : {}),
  });

  it("POSTs {text, blocks} unsigned, with the check's name (escaped) when the registry knows it", async () => {
    const rcv = await receiver();
    try {
      const { hook } = validateHook({ id: "chat", type: "slack", url: rcv.url }, { mode: "create" });
      const r = await createSlackAdapter().apply(
        event("outage.opened"),
        hook,
        ctx(async () => "Web <shop>"),
      );
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(rcv.got).toHaveLength(1);
      expect(rcv.got[0]?.headers["content-type"]).toBe("application/json");
      expect(rcv.got[0]?.headers["webhook-signature"]).toBeUndefined();
      const body = JSON.parse(rcv.got[0]?.body ?? "{}") as { text: string };
      expect(body.text.split("\n")[0]).toBe("Outage opened: check Web &lt;shop&gt; is down");
      expect(body.text).toContain("Check: web (Web &lt;shop&gt;)");
      // check.deleted: nothing is sent (its incident.abandoned says it).
      expect(await createSlackAdapter().apply(event("check.deleted"), hook, ctx())).toMatchObject({ ok: true });
      expect(rcv.got).toHaveLength(1);
    } finally {
      rcv.close();
    }
  });

  it("sends the id alone when the name lookup fails or hangs", async () => {
    const rcv = await receiver();
    try {
      const { hook } = validateHook({ id: "chat", type: "slack", url: rcv.url }, { mode: "create" });
      const failing = ctx(() => Promise.reject(new Error("kv down")));
      expect(await createSlackAdapter().apply(event("outage.opened"), hook, failing)).toMatchObject({ ok: true });
      const hanging = ctx(() => new Promise<string>(() => {}));
      expect(await createSlackAdapter().apply(event("outage.opened"), hook, hanging)).toMatchObject({ ok: true });
      expect(rcv.got.map((g) => (JSON.parse(g.body) as { text: string }).text.split("\n")[0])).toEqual([
        "Outage opened: check web is down",
        "Outage opened: check web is down",
      ]);
    } finally {
      rcv.close();
    }
  });
});
