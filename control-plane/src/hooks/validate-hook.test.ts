import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { generateSecret } from "./signing.js";
import { MASK, PAGERDUTY_EVENTS_URL, publicHook, SECRET_MASK, validateHook } from "./validate-hook.js";

function problems(json: unknown, mode: "create" | "replace" = "create", id?: string): Record<string, string> {
  try {
    validateHook(json, { mode, id });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const list = (err.details?.problems ?? []) as { field: string; message: string }[];
    return Object.fromEntries(list.map((p) => [p.field, p.message]));
  }
  return {};
}

const DNS = {
  zone: "example.test.",
  name: "www.example.test.",
  primary: ["10.0.0.1"],
  standby: ["10.0.0.2"],
  verifyServer: "127.0.0.1:5300",
};

describe("validateHook", () => {
  it("masks URL query values in the API form, and a masked value sent back keeps the stored one", () => {
    const { hook } = validateHook(
      { id: "q", type: "webhook", url: "https://r.example/h?token=tok-1&team=ops" },
      { mode: "create" },
    );
    const shown = publicHook({ hook, createdAt: 1, updatedAt: 1 });
    expect(shown.url).toBe("https://r.example/h?token=***&team=***");
    const { hook: replaced } = validateHook(
      { ...shown, url: "https://r.example/h?token=***&team=sre" },
      { mode: "replace", id: "q", existing: hook },
    );
    expect(replaced.url).toBe("https://r.example/h?token=tok-1&team=sre");
    expect(replaced.secret).toBe(hook.secret);
  });

  it("fills defaults for a webhook and generates a secret once when none is given", () => {
    const { hook, generatedSecret } = validateHook(
      { id: "dns-failover", type: "webhook", url: "http://127.0.0.1:9000/hook" },
      { mode: "create" },
    );
    expect(generatedSecret).toMatch(/^whsec_/);
    expect(hook).toMatchObject({
      id: "dns-failover",
      secret: generatedSecret,
      previousSecrets: [],
      checks: [],
      cooldownMs: 0,
      minHoldMs: 0,
      dryRun: false,
      timeoutMs: 10_000,
      deadlineMs: 86_400_000,
    });
    expect(hook.events).toContain("check.degraded");
  });

  it("keeps a given secret and does not report it generated", () => {
    const secret = generateSecret();
    const v = validateHook(
      { id: "a", type: "webhook", url: "https://x.test/h", secret, events: ["outage.opened"], checks: ["web"] },
      { mode: "create" },
    );
    expect(v.generatedSecret).toBeUndefined();
    expect(v.hook.secret).toBe(secret);
    expect(v.hook.events).toEqual(["outage.opened"]);
  });

  it("lists every problem at once, naming fields, without echoing secrets", () => {
    const p = problems({
      id: "Bad.Id",
      type: "webhook",
      url: "ftp://x",
      secret: "hunter2-is-my-secret",
      events: ["outage.opened", "nope"],
      checks: ["UPPER"],
      cooldownMs: -1,
      dryRun: "yes",
      extra: 1,
    });
    expect(Object.keys(p).sort()).toEqual([
      "checks[0]",
      "cooldownMs",
      "dryRun",
      "events[1]",
      "extra",
      "id",
      "secret",
      "url",
    ]);
    expect(JSON.stringify(p)).not.toContain("hunter2");
  });

  it("requires the type's options object and rejects another type's", () => {
    expect(problems({ id: "h", type: "haproxy" })).toHaveProperty("haproxy");
    expect(problems({ id: "h", type: "webhook", url: "http://x.test/", haproxy: {} })).toHaveProperty("haproxy");
    expect(problems({ id: "h", type: "nope" })).toHaveProperty("type");
  });

  it("validates haproxy options and defaults action hooks to outage events", () => {
    const { hook } = validateHook(
      { id: "lb", type: "haproxy", haproxy: { socket: "/run/haproxy/admin.sock", backend: "be_web", server: "web1" } },
      { mode: "create" },
    );
    expect(hook.events).toEqual(["outage.opened", "outage.resolved"]);
    expect(hook.secret).toBe("");
    expect(
      problems({ id: "lb", type: "haproxy", haproxy: { socket: "relative.sock", backend: "be web", server: "" } }),
    ).toEqual({
      "haproxy.socket": expect.any(String),
      "haproxy.backend": expect.any(String),
      "haproxy.server": "is required",
    });
    expect(
      problems({
        id: "lb",
        type: "haproxy",
        secret: generateSecret(),
        haproxy: { socket: "127.0.0.1:9999", backend: "b", server: "s" },
      }),
    ).toHaveProperty("secret");
  });

  it("validates DNS swap options (addresses of the record type, name inside the zone)", () => {
    const base = { id: "dns", type: "powerdns", url: "http://127.0.0.1:8081" };
    const ok = validateHook({ ...base, powerdns: { ...DNS, apiKey: "k" } }, { mode: "create" }).hook.powerdns;
    expect(ok).toMatchObject({ recordType: "A", ttl: 60, serverId: "localhost" });
    const p = problems({
      ...base,
      powerdns: { ...DNS, apiKey: "k", name: "www.other.test.", recordType: "AAAA", standby: [] },
    });
    expect(Object.keys(p).sort()).toEqual(["powerdns.name", "powerdns.primary[0]", "powerdns.standby"]);
    const r = validateHook(
      {
        id: "ddns",
        type: "rfc2136",
        rfc2136: {
          ...DNS,
          verifyServer: undefined,
          server: "127.0.0.1:5353",
          tsig: { name: "k1", secret: Buffer.alloc(32, 1).toString("base64") },
        },
      },
      { mode: "create" },
    ).hook.rfc2136;
    expect(r?.verifyServer).toBe("127.0.0.1:5353");
    expect(
      problems({
        id: "ddns",
        type: "rfc2136",
        rfc2136: { ...DNS, server: "127.0.0.1:5353", tsig: { name: "k1", secret: "short" } },
      }),
    ).toHaveProperty("rfc2136.tsig.secret");
  });

  it("defaults notification hooks to outage events (partial and degraded opt-in), webhooks to every event", () => {
    const outageEvents = [
      "outage.opened",
      "outage.resolved",
      "incident.abandoned",
      "check.error",
      "check.error.resolved",
    ];
    const pd = validateHook(
      { id: "pd", type: "pagerduty", pagerduty: { routingKey: "R0UTINGKEY" } },
      { mode: "create" },
    );
    expect(pd.hook.events).toEqual(outageEvents);
    const am = validateHook({ id: "am", type: "alertmanager", url: "http://x.test/alerts" }, { mode: "create" });
    expect(am.hook.events).toEqual(outageEvents);
    const wh = validateHook({ id: "wh", type: "webhook", url: "http://x.test/h" }, { mode: "create" });
    expect(wh.hook.events).toEqual(expect.arrayContaining([...outageEvents, "check.deleted", "partial.absorbed"]));
    // Opt in to partials; a list given explicitly is kept as it is (hooks stored before keep theirs).
    const optIn = validateHook(
      {
        id: "pd",
        type: "pagerduty",
        pagerduty: { routingKey: "R0UTINGKEY" },
        events: ["outage.opened", "outage.resolved", "partial.opened", "partial.resolved", "partial.absorbed"],
      },
      { mode: "create" },
    );
    expect(optIn.hook.events).toContain("partial.absorbed");
  });

  it("refuses events a hook type ignores: failover actions keep their state, notifications need no check.deleted", () => {
    const lb = {
      id: "lb",
      type: "haproxy",
      haproxy: { socket: "/run/haproxy/admin.sock", backend: "be", server: "s" },
    };
    expect(
      problems({ ...lb, events: ["outage.opened", "incident.abandoned", "check.error", "check.error.resolved"] }),
    ).toEqual({
      "events[1]": "haproxy hooks ignore incident.abandoned: failover actions keep their state on it",
      "events[2]": "haproxy hooks ignore check.error: failover actions keep their state on it",
      "events[3]": "haproxy hooks ignore check.error.resolved: failover actions keep their state on it",
    });
    expect(
      problems({ id: "pd", type: "pagerduty", pagerduty: { routingKey: "R" }, events: ["check.deleted"] }),
    ).toEqual({
      "events[0]":
        "pagerduty hooks ignore check.deleted: the incident.abandoned sent with it already closes the incident",
    });
    expect(problems({ id: "wh", type: "webhook", url: "http://x.test/h", events: ["check.deleted"] })).toEqual({});
  });

  it("defaults the pagerduty URL and requires a routing key", () => {
    const { hook } = validateHook(
      { id: "pd", type: "pagerduty", pagerduty: { routingKey: "R0UTINGKEY" } },
      { mode: "create" },
    );
    expect(hook.url).toBe(PAGERDUTY_EVENTS_URL);
    expect(hook.pagerduty).toEqual({ routingKey: "R0UTINGKEY", severity: "critical", source: "probemesh" });
    expect(problems({ id: "pd", type: "pagerduty", pagerduty: {} })).toHaveProperty("pagerduty.routingKey");
  });

  it("masks every secret in the API form, and a PUT of that form keeps the stored secrets", () => {
    const secret = generateSecret();
    const old = generateSecret();
    const created = validateHook(
      {
        id: "pd",
        type: "pagerduty",
        url: "http://127.0.0.1:1/pd",
        secret,
        previousSecrets: [old],
        pagerduty: { routingKey: "ABC" },
      },
      { mode: "create" },
    ).hook;
    const shown = publicHook({ hook: created, createdAt: 1, updatedAt: 2 });
    expect(JSON.stringify(shown)).not.toContain(secret.slice(6));
    expect(JSON.stringify(shown)).not.toContain("ABC");
    expect(shown).toMatchObject({
      secret: SECRET_MASK,
      hasSecret: true,
      previousSecrets: [SECRET_MASK],
      pagerduty: { routingKey: MASK },
    });
    const replaced = validateHook(shown, { mode: "replace", id: "pd", existing: created }).hook;
    expect(replaced).toEqual(created);
    // A new secret replaces it; an id mismatch or type change is refused.
    const next = generateSecret();
    expect(validateHook({ ...shown, secret: next }, { mode: "replace", id: "pd", existing: created }).hook.secret).toBe(
      next,
    );
    expect(problems({ ...shown }, "replace", "other")).toHaveProperty("id");
    const dns = validateHook(
      { id: "dns", type: "powerdns", url: "http://127.0.0.1:8081", powerdns: { ...DNS, apiKey: "pdns-key" } },
      { mode: "create" },
    ).hook;
    const dnsShown = publicHook({ hook: dns, createdAt: 1, updatedAt: 1 });
    expect(JSON.stringify(dnsShown)).not.toContain("pdns-key");
    expect(validateHook(dnsShown, { mode: "replace", id: "dns", existing: dns }).hook.powerdns?.apiKey).toBe(
      "pdns-key",
    );
    expect(() => validateHook(dnsShown, { mode: "create" })).toThrow(/apiKey/);
  });

  it("lists an object's unknown fields first, with did-you-mean hints, and cross-field problems beside bad fields", () => {
    try {
      validateHook(
        {
          id: "dns",
          type: "powerdns",
          url: "http://127.0.0.1:8081",
          powerdns: { ...DNS, apiKey: "k", record_type: "A", recordType: "AAAA", ttl: 1.5, standby: [] },
        },
        { mode: "create" },
      );
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const e = err as ValidationError;
      expect(e.message).toMatch(/^invalid hook: powerdns\.record_type: unknown field \(did you mean "recordType"\?\)/);
      expect(e.details?.problems).toEqual([
        { field: "powerdns.record_type", message: 'unknown field (did you mean "recordType"?)' },
        { field: "powerdns.ttl", message: "must be an integer, got 1.5" },
        { field: "powerdns.primary[0]", message: "must be an IPv6 address for AAAA records" },
        { field: "powerdns.standby", message: "must list at least one address" },
      ]);
    }
  });
});
