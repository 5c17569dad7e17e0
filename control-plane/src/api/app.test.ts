import { Writable } from "node:stream";
import { pino } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { CheckRegistry } from "../registry/types.js";
import type { ResultQuery, ResultRow, ResultStore } from "../store/types.js";
import { createApi, type Api, type Readiness } from "./app.js";
import { createMemoryApiTokens } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";

const TOKEN = "api-token-for-tests";
const auth = { authorization: `Bearer ${TOKEN}` };
const web = {
  id: "web",
  type: "http",
  intervalMs: 1000,
  timeoutMs: 800,
  regions: ["eu-west", "us-east"],
  http: { url: "http://127.0.0.1:8081/", method: "GET", expectStatus: [200] },
};

function row(over: Partial<ResultRow>): ResultRow {
  return {
    id: "r1",
    checkId: "web",
    checkVersion: 1,
    agentId: "agent-eu",
    region: "eu-west",
    provider: "test",
    startedAt: 1000,
    durationMs: 12,
    state: "up",
    reason: "",
    message: "",
    phases: { dnsMs: 0, connectMs: 1, tlsMs: 0, ttfbMs: 5, transferMs: 1 },
    seq: 1,
    attempts: 1,
    target: "http://127.0.0.1:8081/",
    canary: false,
    lagMs: 0,
    httpStatus: 200,
    bodyBytes: 5,
    details: {},
    ...over,
  };
}

/** An in-memory result store that records the queries it gets. */
function fakeStore(rows: ResultRow[] = []) {
  const queries: ResultQuery[] = [];
  let failing = false;
  const store: ResultStore = {
    async insertResults() {},
    async queryResults(q) {
      queries.push(q);
      if (failing) throw new Error("connect ECONNREFUSED 127.0.0.1:8123");
      return rows
        .filter(
          (r) =>
            r.checkId === q.checkId &&
            r.startedAt >= q.from &&
            r.startedAt < q.to &&
            (!q.region || r.region === q.region),
        )
        .sort((a, b) => b.startedAt - a.startedAt)
        .slice(0, q.limit);
    },
    async ping() {
      return !failing;
    },
  };
  return { store, queries, fail: () => (failing = true) };
}

describe("HTTP API", () => {
  let app: Api;
  let registry: CheckRegistry;
  let store: ReturnType<typeof fakeStore>;
  let readiness: Readiness;
  let logLines: string[];
  const now = 10_000_000;

  beforeEach(async () => {
    logLines = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    });
    const log = pino({ level: "debug" }, sink);
    // Checks were created two hours before the requests (results reads start at creation).
    registry = createMemoryRegistry({ log, now: () => now - 7_200_000 });
    store = fakeStore([
      row({ id: "a", startedAt: now - 1000, region: "eu-west" }),
      row({ id: "b", startedAt: now - 2000, region: "us-east" }),
      row({ id: "old", startedAt: now - 2 * 3_600_000 }),
    ]);
    readiness = { nats: true, clickhouse: true, migrations: true };
    const agents = createMemoryAgentDirectory({ now: () => now });
    void agents.streamOpened(
      { id: "agent-eu", region: "eu-west", provider: "test", version: "1", capabilities: ["http", "tcp"] },
      "s1",
      3,
    );
    void agents.streamOpened(
      { id: "agent-us", region: "us-east", provider: "test", version: "1", capabilities: ["http"] },
      "s2",
      3,
    );
    const enrollments = createMemoryEnrollments({ now: () => now - 60_000 });
    await enrollments.enroll({ id: "agent-eu", region: "eu-west", provider: "test" });
    await enrollments.enroll({ id: "agent-us", region: "us-east", provider: "test" });
    await enrollments.enroll({ id: "agent-new", region: "ap-south", provider: "test" });
    app = createApi({
      config: { apiToken: TOKEN },
      enrollments,
      apiTokens: createMemoryApiTokens(),
      registry,
      store: store.store,
      agents,
      ready: async () => readiness,
      log,
      now: () => now,
      maxBodyBytes: 4096,
    });
  });

  const post = (body: unknown, headers: Record<string, string> = auth) =>
    app.request("/v1/checks", {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
      headers: { "content-type": "application/json", ...headers },
    });
  const put = (id: string, body: unknown) =>
    app.request(`/v1/checks/${id}`, { method: "PUT", body: JSON.stringify(body), headers: auth });
  const json = async (res: Response) =>
    (await res.json()) as Record<string, unknown> & { error?: { code: string; details?: Record<string, unknown> } };

  describe("checks", () => {
    it("gives a uid that a replace keeps; refuses another uid, unknown or cyclic dependsOn, bad labels", async () => {
      const created = (await (await post({ ...web, labels: { team: "payments" } })).json()) as { uid: string };
      expect(created).toMatchObject({ labels: { team: "payments" } });
      const replaced = (await (await put("web", { ...web, uid: created.uid, dependsOn: [] })).json()) as {
        uid: string;
      };
      expect(replaced.uid).toBe(created.uid);
      const field = async (res: Response) => {
        expect(res.status).toBe(400);
        return (await json(res)).error?.details?.field;
      };
      expect(await field(await put("web", { ...web, uid: "another" }))).toBe("uid");
      expect(await field(await post({ ...web, id: "api", dependsOn: ["nope"] }))).toBe("dependsOn");
      expect((await post({ ...web, id: "api", dependsOn: ["web"] })).status).toBe(201);
      expect(await field(await put("web", { ...web, dependsOn: ["api"] }))).toBe("dependsOn");
      expect(await field(await post({ ...web, id: "x", labels: { "": "v" } }))).toMatch(/^labels/);
    });

    it("creates a check: 201, Location, the check JSON with version and timestamps", async () => {
      const res = await post(web);
      expect(res.status).toBe(201);
      expect(res.headers.get("location")).toBe("/v1/checks/web");
      expect(await res.json()).toEqual({
        id: "web",
        type: "http",
        intervalMs: 1000,
        timeoutMs: 800,
        regions: ["eu-west", "us-east"],
        uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        version: 1,
        failureThreshold: 2,
        recoveryThreshold: 2,
        quorum: "majority",
        http: { url: "http://127.0.0.1:8081/", method: "GET", expectStatus: [200] },
        createdAt: now - 7_200_000,
        updatedAt: now - 7_200_000,
      });
    });

    it("lists, gets, replaces (version 2) and deletes (204, then 404)", async () => {
      await post(web);
      await post({ id: "db", type: "tcp", tcp: { host: "127.0.0.1", port: 5432 } });
      const list = (await (await app.request("/v1/checks", { headers: auth })).json()) as { id: string }[];
      expect(list.map((c) => c.id)).toEqual(["db", "web"]);
      expect(await json(await app.request("/v1/checks/web", { headers: auth }))).toMatchObject({
        id: "web",
        version: 1,
      });

      const replaced = await put("web", { ...web, intervalMs: 5000 });
      expect(replaced.status).toBe(200);
      expect(await replaced.json()).toMatchObject({ id: "web", intervalMs: 5000, version: 2 });

      const del = await app.request("/v1/checks/web", { method: "DELETE", headers: auth });
      expect(del.status).toBe(204);
      expect(await del.text()).toBe("");
      const gone = await app.request("/v1/checks/web", { headers: auth });
      expect(gone.status).toBe(404);
      expect((await json(gone)).error).toMatchObject({ code: "not_found" });
      expect((await app.request("/v1/checks/web", { method: "DELETE", headers: auth })).status).toBe(404);
      expect((await put("web", web)).status).toBe(404);
    });

    it("400 naming quorum when it is larger than the listed regions: such a check could never decide", async () => {
      const res = await post({ ...web, quorum: 3 });
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error?.details).toMatchObject({ field: "quorum" });
      expect(JSON.stringify(body.error)).toContain("at most the number of listed regions (2)");
      expect(await registry.list()).toEqual([]);
    });

    it("400 on an unknown type: no agent could run it", async () => {
      const res = await post({ ...web, type: "ftp" });
      expect(res.status).toBe(400);
      expect((await json(res)).error?.details).toMatchObject({ field: "type" });
    });

    it("stores a check naming a region no agent knows, with `warnings` saying which and what was meant", async () => {
      const res = await post({ ...web, regions: ["us-east", "eu-wset"] });
      expect(res.status).toBe(201);
      const body = await json(res);
      expect(body.warnings).toEqual([
        { field: "regions[1]", message: 'no agent has registered for region "eu-wset"; did you mean "eu-west"?' },
      ]);
      // Advice about one write, never stored: reads do not carry it.
      expect(await json(await app.request("/v1/checks/web", { headers: auth }))).not.toHaveProperty("warnings");
      // A response can be sent back as it came: `warnings` is read-only and ignored.
      const back = await put("web", { ...body, regions: ["us-east", "eu-west"] });
      expect(back.status).toBe(200);
      expect(await json(back)).not.toHaveProperty("warnings");
    });

    it("warns when a numeric quorum exceeds the regions with an agent that can run the type", async () => {
      // Every region: eu-west and us-east have agents, but only eu-west can run tcp.
      const res = await post({ id: "db", type: "tcp", quorum: 2, tcp: { host: "127.0.0.1", port: 5432 } });
      expect(res.status).toBe(201);
      expect((await json(res)).warnings).toEqual([
        {
          field: "quorum",
          message: "needs 2 regions but 1 region has an agent that can run tcp checks; no verdict until more do",
        },
      ]);
      const listed = await put("db", { type: "tcp", regions: ["us-east"], tcp: { host: "127.0.0.1", port: 5432 } });
      expect((await json(listed)).warnings).toMatchObject([{ field: "regions[0]" }]);
    });

    it("stores the check when the agent directory cannot be read, and says its regions went unchecked", async () => {
      const failing = createApi({
        config: { apiToken: TOKEN },
        enrollments: createMemoryEnrollments(),
        apiTokens: createMemoryApiTokens(),
        registry,
        store: store.store,
        agents: { ...createMemoryAgentDirectory(), list: () => Promise.reject(new Error("nats down")) },
        ready: async () => readiness,
        log: pino({ level: "silent" }),
      });
      const res = await failing.request("/v1/checks", { method: "POST", body: JSON.stringify(web), headers: auth });
      expect(res.status).toBe(201);
      expect((await json(res)).warnings).toEqual([
        { field: "regions", message: "not compared with registered agents: the agent directory is unavailable" },
      ]);
      expect(await registry.get("web")).toBeDefined();
    });

    it("400 naming type on a replace that changes it; the stored check is unchanged", async () => {
      await post(web);
      const res = await put("web", { type: "tcp", tcp: { host: "127.0.0.1", port: 5432 } });
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error?.details).toMatchObject({
        field: "type",
        problems: [{ field: "type", message: "cannot change from http: delete and create the check instead" }],
      });
      expect(await json(await app.request("/v1/checks/web", { headers: auth }))).toMatchObject({
        type: "http",
        version: 1,
      });
    });

    it("409 on a duplicate id", async () => {
      await post(web);
      const res = await post(web);
      expect(res.status).toBe(409);
      expect((await json(res)).error?.code).toBe("conflict");
    });

    it("400 naming the field, with every problem listed; nothing reaches the registry", async () => {
      const res = await post({ ...web, intervalMs: 10, http: { url: "ftp://x" } });
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error?.code).toBe("invalid_argument");
      expect(body.error?.details?.field).toBe("intervalMs");
      expect((body.error?.details?.problems as { field: string }[]).map((p) => p.field)).toEqual([
        "intervalMs",
        "http.url",
      ]);
      expect(await registry.list()).toEqual([]);
    });

    it("400 on invalid JSON and on an empty body", async () => {
      const bad = await post("{nope");
      expect(bad.status).toBe(400);
      expect((await json(bad)).error?.details?.field).toBe("body");
      expect((await post("")).status).toBe(400);
    });

    it("reads a JSON body whatever its content type says (curl -d sends form-urlencoded)", async () => {
      const res = await post(web, { ...auth, "content-type": "application/x-www-form-urlencoded" });
      expect(res.status).toBe(201);
      const plain = await app.request("/v1/checks/web", {
        method: "PUT",
        body: JSON.stringify({ ...web, intervalMs: 2000 }),
        headers: { ...auth, "content-type": "text/plain" },
      });
      expect(plain.status).toBe(200);
    });

    it("400 on a malformed id in the path, and when the body id differs from the path", async () => {
      const res = await app.request("/v1/checks/NOT_VALID", { headers: auth });
      expect(res.status).toBe(400);
      expect((await json(res)).error?.details?.field).toBe("id");
      await post(web);
      const mismatch = await put("web", { ...web, id: "other" });
      expect(mismatch.status).toBe(400);
      expect((await json(mismatch)).error?.details?.field).toBe("id");
    });

    it("413 on a body over the limit", async () => {
      const res = await post({ ...web, http: { ...web.http, body: "x".repeat(5000) } });
      expect(res.status).toBe(413);
      expect((await json(res)).error?.code).toBe("payload_too_large");
    });

    it("masks header values and body in responses, keeps them across a GET-edit-PUT round trip", async () => {
      const secret = {
        ...web,
        http: { ...web.http, method: "POST", headers: { Authorization: "Bearer s3cret" }, body: "pw=hunter2" },
      };
      const created = await post(secret);
      const text = await created.text();
      expect(text).not.toMatch(/s3cret|hunter2/);
      const got = (await (await app.request("/v1/checks/web", { headers: auth })).json()) as typeof secret;
      expect(got.http.headers).toEqual({ Authorization: "***" });
      const res = await put("web", { ...got, intervalMs: 2000 });
      expect(res.status).toBe(200);
      const stored = await registry.get("web");
      expect(stored?.check.http?.headers).toEqual({ Authorization: "Bearer s3cret" });
      expect(stored?.check.http?.body).toBe("pw=hunter2");
      expect(logLines.join("")).not.toMatch(/s3cret|hunter2/);
    });
  });

  describe("auth", () => {
    it("writes need the token: 401 JSON error with WWW-Authenticate", async () => {
      for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: TOKEN }] as Record<
        string,
        string
      >[]) {
        const res = await post(web, headers);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect((await json(res)).error?.code).toBe("unauthenticated");
      }
      expect((await app.request("/v1/checks/web", { method: "DELETE" })).status).toBe(401);
      expect((await app.request("/v1/checks/web", { method: "PUT", body: "{}" })).status).toBe(401);
      expect(app.stats().unauthorized).toBe(5);
      expect(await registry.list()).toEqual([]);
    });

    it("reads need a token too: 401 without one or with a wrong one", async () => {
      expect((await app.request("/v1/checks")).status).toBe(401);
      expect((await app.request("/v1/checks", { headers: auth })).status).toBe(200);
      expect((await app.request("/v1/checks", { headers: { authorization: "Bearer nope" } })).status).toBe(401);
      expect(app.stats().unauthorized).toBe(2);
    });

    it("never logs the Authorization header", async () => {
      await post(web);
      await post(web, { authorization: "Bearer wrong-token-value" });
      const all = logLines.join("");
      expect(all).not.toContain(TOKEN);
      expect(all).not.toContain("wrong-token-value");
    });
  });

  describe("results", () => {
    beforeEach(async () => {
      await post(web);
    });

    it("defaults to the last hour, newest first, limit 100", async () => {
      const res = await app.request("/v1/checks/web/results", { headers: auth });
      expect(res.status).toBe(200);
      expect(((await res.json()) as ResultRow[]).map((r) => r.id)).toEqual(["a", "b"]);
      expect(store.queries[0]).toEqual({
        checkId: "web",
        checkUids: [expect.any(String)],
        from: now - 3_600_000,
        to: now,
        limit: 100,
      });
    });

    it("reads results from the check's creation on, so a re-created id inherits nothing", async () => {
      const created = (await registry.get("web"))!.createdAt;
      expect(created).toBe(now - 7_200_000);
      await app.request(`/v1/checks/web/results?from=0&to=${now}`, { headers: auth });
      expect(store.queries.at(-1)).toMatchObject({ from: created, to: now });
      // A window entirely before the check existed is empty, not an error.
      const before = await app.request(`/v1/checks/web/results?from=0&to=${created - 1000}`, { headers: auth });
      expect(before.status).toBe(200);
    });

    it("passes from, to, region and limit through", async () => {
      const res = await app.request(`/v1/checks/web/results?from=${now - 3_600_000}&to=${now}&region=us-east&limit=5`, {
        headers: auth,
      });
      expect(((await res.json()) as ResultRow[]).map((r) => r.id)).toEqual(["b"]);
      expect(store.queries[0]).toEqual({
        checkId: "web",
        checkUids: [expect.any(String)],
        from: now - 3_600_000,
        to: now,
        region: "us-east",
        limit: 5,
      });
    });

    it.each([
      ["from=abc", "from"],
      ["to=1.5", "to"],
      ["from=-1", "from"],
      ["from=100&to=50", "from"],
      ["limit=0", "limit"],
      ["limit=10001", "limit"],
      ["limit=ten", "limit"],
      ["region=eu.west", "region"],
      ["region=x'%20OR%201=1", "region"],
      ["limit=1&limit=2", "limit"],
      ["since=1", "since"],
      ["from=99999999999999999", "from"],
    ])("400 for ?%s (field %s), and no query reaches the store", async (qs, field) => {
      const res = await app.request(`/v1/checks/web/results?${qs}`, { headers: auth });
      expect(res.status).toBe(400);
      expect((await json(res)).error?.details?.field).toBe(field);
      expect(store.queries).toEqual([]);
    });

    it("names the known parameters when one is unknown", async () => {
      const res = await app.request("/v1/checks/web/results?since=1", { headers: auth });
      expect((await json(res)).error?.details?.problems).toEqual([
        { field: "since", message: "unknown query parameter (known: from, to, region, limit)" },
      ]);
    });

    it("404 for an unknown check", async () => {
      const res = await app.request("/v1/checks/nope/results", { headers: auth });
      expect(res.status).toBe(404);
      expect(store.queries).toEqual([]);
    });

    it("503 when the store fails, without leaking internals", async () => {
      store.fail();
      const res = await app.request("/v1/checks/web/results", { headers: auth });
      expect(res.status).toBe(503);
      const body = await json(res);
      expect(body.error?.code).toBe("unavailable");
      expect(JSON.stringify(body)).not.toContain("ECONNREFUSED");
    });
  });

  describe("agents, health and readiness", () => {
    it("lists enrolled agents with their presence, one never seen included", async () => {
      const res = await app.request("/v1/agents", { headers: auth });
      expect(await res.json()).toMatchObject([
        {
          id: "agent-eu",
          region: "eu-west",
          connected: true,
          lastSeenAt: now,
          enrolledAt: now - 60_000,
          revokedAt: null,
        },
        { id: "agent-new", region: "ap-south", connected: false, lastSeenAt: null, connectedAt: null, version: "" },
        { id: "agent-us", region: "us-east", connected: true, lastSeenAt: now, capabilities: ["http"] },
      ]);
    });

    it("healthz is always 200", async () => {
      readiness = { nats: false, clickhouse: false, migrations: false };
      const res = await app.request("/healthz");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ok" });
    });

    it("readyz is 200 when everything is ready, else 503 naming what is not", async () => {
      const ok = await app.request("/readyz");
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ status: "ready", notReady: [] });
      readiness = { nats: true, clickhouse: false, migrations: false };
      const not = await app.request("/readyz");
      expect(not.status).toBe(503);
      expect(await not.json()).toMatchObject({
        status: "not_ready",
        clickhouse: false,
        notReady: ["clickhouse", "migrations"],
      });
    });

    it("unknown routes are JSON 404s", async () => {
      const res = await app.request("/v2/nothing");
      expect(res.status).toBe(404);
      expect((await json(res)).error?.code).toBe("not_found");
    });

    it("logs one line per request with method, path, status and duration", async () => {
      logLines = [];
      await app.request("/v1/checks?x=1", { headers: auth });
      const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ method: "GET", path: "/v1/checks", status: 200, component: "api" });
      expect(typeof lines[0]?.ms).toBe("number");
    });
  });
});
