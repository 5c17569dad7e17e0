import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { exportMesh } from "./export.js";
import { parseMeshFile, resolveEnv } from "./mesh-file.js";
import { fieldChanges, formatPlan, mergeForPut, planApply, sameValue } from "./plan.js";
import { eventLine, sseParser, type StreamEvent } from "./events.js";

const stored = {
  id: "web",
  type: "http",
  name: "Web",
  intervalMs: 30000,
  timeoutMs: 5000,
  quorum: "2",
  labels: { team: "web" },
  http: { url: "https://example.com/?token=***", method: "GET", headers: { Authorization: "***" }, expectStatus: [] },
  uid: "u-1",
  version: 3,
  createdAt: 1,
  updatedAt: 2,
};

describe("diff", () => {
  it("compares only the fields the file names; masked secrets match any value; numbers match their digits", () => {
    const wanted = {
      id: "web",
      type: "http",
      quorum: 2,
      labels: { team: "web" },
      http: { url: "https://example.com/?token=s3cret", headers: { Authorization: "Bearer x" } },
    };
    expect(fieldChanges(wanted, stored)).toEqual([]);
    expect(sameValue("https://other.example/?token=s3cret", "https://example.com/?token=***")).toBe(false);
  });

  it("names each changed field, label maps compared whole", () => {
    const wanted = {
      id: "web",
      type: "http",
      name: "Web site",
      labels: { team: "web", env: "prod" },
      http: { method: "HEAD" },
    };
    expect(fieldChanges(wanted, stored).map((c) => c.path)).toEqual(["name", "labels", "http.method"]);
  });

  it("plans creates in dependency order, updates, and with --prune deletes only kinds the file lists", () => {
    const file = {
      checks: [
        { id: "app", type: "tcp", dependsOn: ["db"], tcp: { host: "a", port: 1 } },
        { id: "db", type: "tcp", tcp: { host: "d", port: 1 } },
        { id: "web", type: "http", name: "New name" },
      ],
      maintenance: [],
    };
    const current = {
      checks: [stored, { id: "old", type: "tcp" }],
      maintenance: [{ id: "w", checks: "*" }],
      hooks: [{ id: "h" }],
    };
    const steps = planApply(file, current, true);
    expect(steps.map((s) => `${s.action} ${s.kind} ${s.id}`)).toEqual([
      "create checks db",
      "create checks app",
      "update checks web",
      "delete maintenance w",
      "delete checks old",
    ]);
    expect(planApply(file, current, false).some((s) => s.action === "delete")).toBe(false);
  });

  it("prints the file's env references in a diff, never the resolved secret", () => {
    const raw = { checks: [{ id: "web", http: { headers: { Authorization: "${env:WEB_AUTH}" } } }] };
    const lines = formatPlan(
      [
        {
          kind: "checks",
          id: "web",
          action: "update",
          changes: [{ path: "http.headers", from: {}, to: { Authorization: "Bearer s3cret" } }],
        },
      ],
      raw,
    );
    expect(lines.join("\n")).toContain("${env:WEB_AUTH}");
    expect(lines.join("\n")).not.toContain("s3cret");
  });

  it("a PUT body is the stored object with the file's fields over it, without read-only fields", () => {
    const body = mergeForPut("checks", stored, { id: "web", http: { method: "HEAD" } });
    expect(body).not.toHaveProperty("uid");
    expect(body).not.toHaveProperty("version");
    expect(body).toMatchObject({ name: "Web", http: { method: "HEAD", headers: { Authorization: "***" } } });
  });
});

describe("environment references", () => {
  it("resolves ${env:NAME} inside strings and {fromEnv: NAME} as a whole value", () => {
    const env = { KEY: "k1", TOKEN: "t1" };
    expect(resolveEnv({ a: { fromEnv: "KEY" }, b: ["x=${env:TOKEN}"] }, env, "f")).toEqual({ a: "k1", b: ["x=t1"] });
  });

  it("names the field and the variable when it is unset", () => {
    expect(() =>
      resolveEnv({ pagerduty: { routingKey: { fromEnv: "PAGERDUTY_KEY" } } }, {}, "mesh.yaml: hooks[0]"),
    ).toThrow("mesh.yaml: hooks[0].pagerduty.routingKey: environment variable PAGERDUTY_KEY is not set");
  });
});

describe("mesh file", () => {
  it("refuses unknown keys, duplicate ids and bad YAML with the file's name", () => {
    expect(() => parseMeshFile("chekcs: []", "m.yaml")).toThrow('m.yaml: unknown key "chekcs"');
    expect(() => parseMeshFile("checks: [{id: a}, {id: a}]", "m.yaml")).toThrow('check "a" is listed twice');
    expect(() => parseMeshFile("checks: [", "m.yaml")).toThrow("m.yaml: not valid YAML");
  });

  it("takes maintenance times as ISO dates", () => {
    const f = parseMeshFile(
      "maintenance:\n  - id: w\n    checks: '*'\n    from: 2026-01-01T00:00:00Z\n    to: 2026-01-01T01:00:00Z\n",
      "m",
    );
    expect(f.maintenance?.[0]).toMatchObject({
      from: Date.parse("2026-01-01T00:00:00Z"),
      to: Date.parse("2026-01-01T01:00:00Z"),
    });
  });

  it("exports secrets as env references, and the export parses back to a file with an empty diff", () => {
    const hook = {
      id: "pager",
      type: "pagerduty",
      url: "https://events.pagerduty.com/v2/enqueue",
      secret: "whsec_***",
      hasSecret: true,
      events: ["outage.opened"],
      checks: [],
      selector: { team: "web" },
      pagerduty: { routingKey: "***", severity: "critical" },
      createdAt: 1,
      updatedAt: 1,
      disabled: null,
    };
    const window = { id: "w", checks: "*", from: 1767225600000, to: 1767229200000, createdAt: 5 };
    const text = exportMesh({ checks: [stored], hooks: [hook], maintenance: [window] });
    expect(text).not.toMatch(/\*\*\*/);
    const doc = parse(text) as { hooks: { pagerduty: { routingKey: unknown } }[] };
    expect(doc.hooks[0]!.pagerduty.routingKey).toEqual({ fromEnv: "PAGER_PAGERDUTY_ROUTINGKEY" });
    expect(text).toContain("token=${env:WEB_HTTP_URL_TOKEN}");
    const raw = parseMeshFile(text, "export");
    const env = {
      PAGER_PAGERDUTY_ROUTINGKEY: "k",
      PAGER_SECRET: "whsec_x",
      WEB_HTTP_URL_TOKEN: "t",
      WEB_HTTP_HEADERS_AUTHORIZATION: "a",
    };
    const resolved = {
      checks: raw.checks!.map((o) => resolveEnv(o, env, "c") as Record<string, unknown>),
      hooks: raw.hooks!.map((o) => resolveEnv(o, env, "h") as Record<string, unknown>),
      maintenance: raw.maintenance!,
    };
    expect(planApply(resolved, { checks: [stored], hooks: [hook], maintenance: [window] }, true)).toEqual([]);
  });

  it("exports a slack hook's URL (a secret, shown as ***) as an env reference that plans back unchanged", () => {
    const hook = {
      id: "chat",
      type: "slack",
      url: "***",
      events: ["outage.opened"],
      checks: [],
      selector: {},
      createdAt: 1,
      updatedAt: 1,
      disabled: null,
    };
    const text = exportMesh({ hooks: [hook] });
    expect(text).not.toMatch(/\*\*\*/);
    expect((parse(text) as { hooks: { url: unknown }[] }).hooks[0]!.url).toEqual({ fromEnv: "CHAT_URL" });
    const raw = parseMeshFile(text, "export");
    const env = { CHAT_URL: "https://hooks.slack.com/services/T/B/x" };
    const hooks = raw.hooks!.map((o) => resolveEnv(o, env, "h") as Record<string, unknown>);
    expect(planApply({ hooks }, { hooks: [hook] }, true)).toEqual([]);
  });
});

describe("events", () => {
  it("parses Server-Sent Events split across chunks, skipping heartbeats", () => {
    const got: StreamEvent[] = [];
    const feed = sseParser((e) => got.push(e));
    feed(": ping\n\nid: 7\nevent: sta");
    feed('tus\ndata: {"checkId":"web","state":"down","since":0,"regions":{"eu":{"state":"down"}}}\n\n');
    expect(got).toEqual([{ id: "7", event: "status", data: expect.stringContaining('"web"') }]);
    expect(eventLine(got[0]!)).toBe("1970-01-01T00:00:00.000Z status web down regions=eu=down");
  });
});
