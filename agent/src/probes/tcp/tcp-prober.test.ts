import { create } from "@bufbuild/protobuf";
import { CheckSchema, TcpCheckSchema } from "@probemesh/proto";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createProbers } from "../index.js";

let server: Server;
beforeAll(async () => {
  server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const tcp = createProbers().get("tcp")!;
const run = (host: string, port: number, retries = 0) =>
  tcp.run(
    create(CheckSchema, {
      id: "t",
      type: "tcp",
      timeoutMs: 1000,
      retries,
      tcp: create(TcpCheckSchema, { host, port }),
    }),
    { signal: new AbortController().signal, timeoutMs: 1000 },
  );

it("is up when the port accepts, with dns and connect phases", async () => {
  const port = (server.address() as AddressInfo).port;
  const [o] = await run("localhost", port);
  expect(o).toMatchObject({ state: "up", reason: "", attempts: 1 });
  expect(o!.phases.dnsMs).toBeGreaterThanOrEqual(0);
  expect(o!.phases.connectMs).toBeGreaterThanOrEqual(0);
});

it("is down with reason connect when refused, dns when the name does not resolve", async () => {
  expect((await run("127.0.0.1", 1, 1))[0]).toMatchObject({ state: "down", reason: "connect", attempts: 2 });
  expect((await run("nope.invalid", 80))[0]).toMatchObject({ state: "down", reason: "dns" });
  expect((await run("", 80))[0]).toMatchObject({ state: "down", reason: "internal" });
});
