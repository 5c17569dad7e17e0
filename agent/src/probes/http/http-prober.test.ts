import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { CheckSchema, HttpCheckSchema } from "@probemesh/proto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProbers } from "../index.js";

let server: Server;
let base = "";

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/ok") {
      res.setHeader("x-build", "v1.2.3");
      res.end('{"status":"ok","items":[{"name":"a"}]}');
    } else if (u.pathname === "/echo") {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => res.end(`${req.method} ${req.headers["x-token"] ?? ""} ${body}`));
    } else if (u.pathname === "/redirect") {
      res.writeHead(302, { location: "/ok" }).end();
    } else if (u.pathname === "/loop") {
      res.writeHead(302, { location: "/loop2" }).end();
    } else if (u.pathname === "/loop2") {
      res.writeHead(301, { location: "/loop" }).end();
    } else if (u.pathname === "/chain") {
      const n = Number(u.searchParams.get("n") ?? "0");
      res.writeHead(302, { location: `/chain?n=${n + 1}` }).end();
    } else if (u.pathname === "/big") {
      res.end(Buffer.alloc(3 * 1024 * 1024, 97));
    } else if (u.pathname === "/slow") {
      setTimeout(() => res.end("late"), 300);
    } else {
      res.writeHead(404).end("nope");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const probers = createProbers();
const http = probers.get("http")!;

async function probe(
  opts: MessageInitShape<typeof HttpCheckSchema>,
  extra: { timeoutMs?: number; degradedAfterMs?: number; retries?: number } = {},
) {
  const check = create(CheckSchema, {
    id: "t",
    type: "http",
    timeoutMs: extra.timeoutMs ?? 2000,
    degradedAfterMs: extra.degradedAfterMs ?? 0,
    retries: extra.retries ?? 0,
    http: create(HttpCheckSchema, opts),
  });
  const outcomes = await http.run(check, { signal: new AbortController().signal, timeoutMs: check.timeoutMs });
  expect(outcomes.length).toBeGreaterThan(0);
  return outcomes;
}

describe("http prober", () => {
  it("reports up with phases and status for a 200", async () => {
    const [o] = await probe({ url: `${base}/ok` });
    expect(o).toMatchObject({ state: "up", reason: "", httpStatus: 200, attempts: 1 });
    expect(o!.phases.connectMs).toBeGreaterThanOrEqual(0);
    expect(o!.phases.ttfbMs).toBeGreaterThanOrEqual(0);
    expect(o!.phases.transferMs).toBeGreaterThanOrEqual(0);
    expect(o!.phases.dnsMs).toBeUndefined(); // IP literal: no lookup happened
    expect(o!.bodyBytes).toBe(38);
    expect(o!.target).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("resolves names and times the lookup", async () => {
    const [o] = await probe({ url: base.replace("127.0.0.1", "localhost") + "/ok", ipPreference: "ip4" });
    expect(o!.state).toBe("up");
    expect(o!.phases.dnsMs).toBeGreaterThanOrEqual(0);
  });

  it("judges status against numbers, classes and ranges", async () => {
    expect((await probe({ url: `${base}/missing` }))[0]).toMatchObject({
      state: "down",
      reason: "http_status",
      httpStatus: 404,
    });
    expect((await probe({ url: `${base}/missing`, expectStatus: ["4xx"] }))[0]!.state).toBe("up");
    expect((await probe({ url: `${base}/missing`, expectStatus: ["400-404"] }))[0]!.state).toBe("up");
    expect((await probe({ url: `${base}/missing`, expectStatus: ["200", "405"] }))[0]!.reason).toBe("http_status");
    expect((await probe({ url: `${base}/ok`, expectStatus: ["2xz"] }))[0]).toMatchObject({
      state: "down",
      reason: "internal",
    });
  });

  it("sends method, headers and body but never echoes them", async () => {
    const [o] = await probe({
      url: `${base}/echo`,
      method: "post",
      headers: { "X-Token": "s3cret" },
      body: "hello",
      bodyContains: "POST s3cret hello",
    });
    expect(o!.state).toBe("up");
    const [bad] = await probe({
      url: `${base}/echo`,
      method: "post",
      headers: { "X-Token": "s3cret" },
      body: "hello",
      bodyContains: "nope",
    });
    expect(bad!.reason).toBe("assertion:body_contains");
    expect(JSON.stringify(bad)).not.toContain("s3cret");
  });

  it("does not follow redirects unless asked, then follows and detects loops and long chains", async () => {
    expect((await probe({ url: `${base}/redirect` }))[0]).toMatchObject({
      state: "down",
      reason: "http_status",
      httpStatus: 302,
    });
    expect((await probe({ url: `${base}/redirect`, followRedirects: true }))[0]).toMatchObject({
      state: "up",
      httpStatus: 200,
    });
    const [loop] = await probe({ url: `${base}/loop`, followRedirects: true });
    expect(loop).toMatchObject({ state: "down", reason: "protocol" });
    expect(loop!.message).toMatch(/loop/);
    const [chain] = await probe({ url: `${base}/chain`, followRedirects: true });
    expect(chain).toMatchObject({ state: "down", reason: "protocol" });
    expect(chain!.message).toMatch(/more than 10 redirects/);
  });

  it("caps the body read and judges on the prefix", async () => {
    const [o] = await probe({ url: `${base}/big`, maxBodyBytes: 1000, bodyRegex: ["^a+$"] });
    expect(o!.state).toBe("up");
    expect(o!.bodyBytes).toBeGreaterThan(1000);
    expect(o!.bodyBytes).toBeLessThan(3 * 1024 * 1024);
    expect(o!.message).toMatch(/cap/);
  });

  it("runs header, body and JSON assertions", async () => {
    const url = `${base}/ok`;
    expect((await probe({ url, headerMatch: [{ name: "X-Build", regex: "^v1\\.", negate: false }] }))[0]!.state).toBe(
      "up",
    );
    expect((await probe({ url, headerMatch: [{ name: "X-Build", regex: "^v1\\.", negate: true }] }))[0]!.reason).toBe(
      "assertion:header_match",
    );
    expect((await probe({ url, headerMatch: [{ name: "X-Missing", regex: ".", negate: false }] }))[0]!.reason).toBe(
      "assertion:header_match",
    );
    expect((await probe({ url, bodyNotRegex: ["error"] }))[0]!.state).toBe("up");
    expect((await probe({ url, bodyNotRegex: ["ok"] }))[0]!.reason).toBe("assertion:body_not_regex");
    expect((await probe({ url, bodyRegex: ["nope"] }))[0]!.reason).toBe("assertion:body_regex");
    expect(
      (
        await probe({
          url,
          jsonPath: [
            { path: "status", equals: '"ok"' },
            { path: "items.0.name", equals: "" },
            { path: "$.items[0].name", equals: "" },
          ],
        })
      )[0]!.state,
    ).toBe("up");
    expect((await probe({ url, jsonPath: [{ path: "status", equals: '"fail"' }] }))[0]!.reason).toBe(
      "assertion:json_path",
    );
    expect((await probe({ url, jsonPath: [{ path: "items.3", equals: "" }] }))[0]!.reason).toBe("assertion:json_path");
    expect(
      (await probe({ url: `${base}/missing`, expectStatus: ["404"], jsonPath: [{ path: "a", equals: "" }] }))[0]!
        .reason,
    ).toBe("assertion:json_path");
  });

  it("marks slow successes degraded, and fails maxResponseTimeMs", async () => {
    expect((await probe({ url: `${base}/slow` }, { degradedAfterMs: 100 }))[0]!.state).toBe("degraded");
    expect((await probe({ url: `${base}/slow`, maxResponseTimeMs: 100 }))[0]!.reason).toBe(
      "assertion:max_response_time",
    );
  });

  it("times out with reason timeout", async () => {
    const [o] = await probe({ url: `${base}/slow` }, { timeoutMs: 100 });
    expect(o).toMatchObject({ state: "down", reason: "timeout" });
    expect(o!.durationMs).toBeLessThan(250);
  });

  it("reports connect and dns failures, and counts retries", async () => {
    const port = (server.address() as AddressInfo).port;
    const [refused] = await probe({ url: `http://127.0.0.1:1/` }, { retries: 2 });
    expect(refused).toMatchObject({ state: "down", reason: "connect", attempts: 3 });
    const [dns] = await probe({ url: `http://no-such-host.invalid:${port}/` });
    expect(dns).toMatchObject({ state: "down", reason: "dns" });
  });
});
