import { performance } from "node:perf_hooks";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestHop, type HopRequest } from "./request-hop.js";

/** Raw TCP target: each path answers with hand-written bytes, so the client meets what node:http would never send. */
const routes: Record<string, (sock: Socket) => void> = {
  "/chunked": (s) =>
    s.end(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=1\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
    ),
  // The connection stays open: the framing alone must end the hop.
  "/length-open": (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
  "/head-open": (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
  "/not-http": (s) => s.end("SSH-2.0-OpenSSH_9.2\r\n"),
  "/switch": (s) => s.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
  "/bad-chunk": (s) => s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX"),
  "/cut-chunked": (s) => s.end("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
  "/bad-length": (s) => s.end("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
  "/reset-mid-body": (s) =>
    s.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", () => setTimeout(() => s.resetAndDestroy(), 20)),
  "/reset-after": (s) =>
    s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", () => setTimeout(() => s.resetAndDestroy(), 20)),
  "/endless": (s) => {
    s.write("HTTP/1.1 200 OK\r\n\r\n");
    const pump = () => {
      while (!s.destroyed && s.write(Buffer.alloc(16 * 1024, 0x62)));
      if (!s.destroyed) s.once("drain", pump);
    };
    pump();
  },
  "/loris": (s) => {
    s.write("HTTP/1.1 200 OK\r\nX-Slow: ");
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write("a")), 50);
    s.on("close", () => clearInterval(t));
  },
  "/close-delimited": (s) => s.end("HTTP/1.0 200 OK\r\nX-A: 1\r\nX-A: 2\r\n\r\nuntil close"),
};

let server: Server;
let port = 0;
let connections = 0;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((sock) => {
    connections++;
    sock.on("error", () => {});
    let head = "";
    sock.on("data", (c: Buffer) => {
      if (head.includes("\r\n\r\n")) return;
      head += c.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      requests.push(head);
      const path = head.split(" ")[1] ?? "";
      (routes[path] ?? ((s: Socket) => s.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")))(sock);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function hop(path: string, extra: Partial<HopRequest> = {}) {
  return requestHop({
    url: new URL(`http://127.0.0.1:${port}${path}`),
    address: { address: "127.0.0.1", family: 4 },
    method: "GET",
    headers: { host: `127.0.0.1:${port}`, "user-agent": "t" },
    body: undefined,
    keepBody: true,
    maxBodyBytes: 1024 * 1024,
    insecure: false,
    ca: undefined,
    signal: new AbortController().signal,
    now: () => performance.now(),
    ...extra,
  });
}

const where = () => `127.0.0.1:${port}`;

describe("requestHop over its own HTTP/1.1 client", () => {
  it("writes one request with connection: close", async () => {
    const before = requests.length;
    const r = await hop("/length-open", { method: "POST", body: "hi", headers: { host: "h", "content-length": "2" } });
    expect(r).toMatchObject({ status: 200, bodyBytes: 2 });
    expect(requests[before]).toBe(
      "POST /length-open HTTP/1.1\r\nhost: h\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
    );
  });

  it("skips 1xx, decodes chunked, and times every phase", async () => {
    const r = await hop("/chunked");
    expect(r.failure).toBeUndefined();
    expect(r).toMatchObject({ status: 200, bodyBytes: 11, truncated: false });
    expect(r.body!.toString()).toBe("hello world");
    expect({ ...r.headers }).toEqual({ "transfer-encoding": "chunked", "set-cookie": ["a=1"] });
    for (const k of ["connectMs", "ttfbMs", "transferMs"] as const) expect(r.phases[k]).toBeGreaterThanOrEqual(0);
    expect(r.phases.tlsMs).toBeUndefined();
  });

  it("ends on the framing, not on the peer's close", async () => {
    const t0 = performance.now();
    expect(await hop("/length-open")).toMatchObject({ status: 200, bodyBytes: 2 });
    expect(await hop("/head-open", { method: "HEAD" })).toMatchObject({ status: 200, bodyBytes: 0 });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("reads a close-delimited body and merges duplicate headers", async () => {
    const r = await hop("/close-delimited");
    expect(r).toMatchObject({ status: 200, bodyBytes: 11, headers: { "x-a": "1, 2" } });
    expect(r.body!.toString()).toBe("until close");
  });

  it("fails invalid responses as protocol errors, naming the target", async () => {
    expect((await hop("/not-http")).failure).toEqual({
      reason: "protocol",
      message: `no valid HTTP response from ${where()}: invalid status line`,
    });
    expect((await hop("/switch")).failure).toEqual({
      reason: "protocol",
      message: `no valid HTTP response from ${where()}: unexpected 101 Switching Protocols`,
    });
    expect((await hop("/bad-length")).failure).toEqual({
      reason: "protocol",
      message: `no valid HTTP response from ${where()}: invalid Content-Length`,
    });
    const bad = await hop("/bad-chunk");
    expect(bad).toMatchObject({
      status: 200,
      bodyBytes: 5,
      failure: {
        reason: "protocol",
        message: `invalid chunked body from ${where()} after 5 bytes: chunk data is not followed by CRLF`,
      },
    });
  });

  it("fails bodies cut short with the mid-body message", async () => {
    expect((await hop("/cut-chunked")).failure).toEqual({
      reason: "protocol",
      message: "connection closed mid-body after 5 bytes: chunked body ended without its last chunk",
    });
    const reset = await hop("/reset-mid-body");
    expect(reset).toMatchObject({ status: 200, bodyBytes: 3, failure: { reason: "protocol" } });
    expect(reset.failure!.message).toMatch(/^connection closed mid-body after 3 bytes: /);
  });

  it("is not disturbed by a reset after the response completed", async () => {
    const r = await hop("/reset-after");
    expect(r).toMatchObject({ status: 200, bodyBytes: 2 });
    expect(r.failure).toBeUndefined();
    await new Promise((res) => setTimeout(res, 50)); // the reset lands on a destroyed socket, unheard
  });

  it("stops reading at the body cap, keeping only the cap", async () => {
    const r = await hop("/endless", { maxBodyBytes: 100_000 });
    expect(r).toMatchObject({ status: 200, truncated: true });
    expect(r.failure).toBeUndefined();
    expect(r.bodyBytes).toBeGreaterThan(100_000);
    expect(r.body!.length).toBe(100_000);
    expect(r.body!.every((b) => b === 0x62)).toBe(true);
  });

  it("is cut by the abort signal on a slow-loris head", async () => {
    const t0 = performance.now();
    const r = await hop("/loris", { signal: AbortSignal.timeout(300) });
    expect(r.failure).toEqual({ reason: "timeout", message: "timed out during waiting for the response" });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("refuses a request that would be split, before connecting", async () => {
    const before = connections;
    const r = await hop("/length-open", { headers: { host: "h", "x-token": "s3cret\r\nx-evil: 1" } });
    expect(r.failure).toEqual({
      reason: "internal",
      message: "invalid check: header x-token has characters that cannot be sent",
    });
    expect(connections).toBe(before);
  });
});
