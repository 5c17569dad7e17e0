import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import {
  createConnection,
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from "node:net";
import { listenOnLoopback } from "./ports.js";
import type { KeyPair, TestCerts } from "./targets-certs.js";

/** Size of the `/big` body: large enough that holding it in memory would show. */
export const BIG_BODY_BYTES = 50 * 1024 * 1024;

/** Hostile and ordinary local targets for probers, each on its own free port of 127.0.0.1. */
export interface Targets {
  /** Plain HTTP base URL (`http://127.0.0.1:port`) serving the routes of `handle`. */
  http: string;
  /** HTTPS base URLs by certificate. */
  https: {
    valid: string;
    selfSigned: string;
    expired: string;
    wrongHost: string;
    shortChain: string;
    tls12Only: string;
  };
  /** Accepts and then sends one byte of a response line every 200 ms, never finishing. */
  slowLoris: { host: string; port: number };
  /** Accepts, reads, and closes after 50 ms without a byte of response. */
  closeOnAccept: { host: string; port: number };
  /** A port nothing listens on. */
  refusedPort: number;
  /** Bytes the `/big` route has written so far (to prove a probe stopped reading). */
  bigBytesWritten(): number;
  close(): Promise<void>;
}

/**
 * Routes: `/ok` (JSON, x-build header), `/status/<n>`, `/redirect` (302 to /ok), `/loop` (a
 * two-hop loop), `/chain?n=` (endless distinct redirects), `/big` (50 MB streamed with
 * backpressure), `/mid-body-close` (Content-Length 10000, 100 bytes, then reset), `/slow?ms=`,
 * `/echo` (method, x-token header and body back), `/text?body=`.
 */
function routes(onBigWrite: (n: number) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? "/", "http://x");
    const p = u.pathname;
    let m: RegExpExecArray | null;
    if (p === "/ok") {
      res.writeHead(200, { "content-type": "application/json", "x-build": "v1.2.3" });
      res.end('{"status":"ok","version":3,"items":[{"name":"a"}]}');
    } else if ((m = /^\/status\/(\d{3})$/.exec(p))) {
      res.writeHead(Number(m[1]), { "content-type": "text/plain" }).end(`status ${m[1]}`);
    } else if (p === "/redirect") {
      res.writeHead(302, { location: "/ok" }).end();
    } else if (p === "/loop") {
      res.writeHead(302, { location: "/loop2" }).end();
    } else if (p === "/loop2") {
      res.writeHead(302, { location: "/loop" }).end();
    } else if (p === "/chain") {
      res.writeHead(302, { location: `/chain?n=${Number(u.searchParams.get("n") ?? 0) + 1}` }).end();
    } else if (p === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(BIG_BODY_BYTES) });
      const chunk = Buffer.alloc(64 * 1024, 120);
      let sent = 0;
      const pump = () => {
        while (sent < BIG_BODY_BYTES) {
          sent += chunk.length;
          onBigWrite(chunk.length);
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => (sent = BIG_BODY_BYTES + 1));
      pump();
    } else if (p === "/mid-body-close") {
      res.writeHead(200, { "content-length": "10000" });
      res.write(Buffer.alloc(100, 97), () => setTimeout(() => res.socket?.destroy(), 20));
    } else if (p === "/slow") {
      const timer = setTimeout(() => res.end("late"), Number(u.searchParams.get("ms") ?? 1000));
      res.on("close", () => clearTimeout(timer));
    } else if (p === "/echo") {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => res.end(`${req.method} ${String(req.headers["x-token"] ?? "")} ${body}`));
    } else if (p === "/text") {
      res.writeHead(200, { "content-type": "text/plain" }).end(u.searchParams.get("body") ?? "");
    } else {
      res.writeHead(404).end("not found");
    }
  };
}

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Starts every target; `close()` stops them and destroys open connections. */
export async function startTargets(certs: TestCerts): Promise<Targets> {
  let bigBytes = 0;
  const handler = routes((n) => (bigBytes += n));
  const servers: (Server | TcpServer)[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Server | TcpServer) => {
    servers.push(s);
    s.on("connection", (sock: Socket) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
    });
    return s;
  };
  const httpPort = await listen(track(createHttpServer(handler)));
  const httpsOn = async (pair: KeyPair, extra: Record<string, unknown> = {}) => {
    const port = await listen(track(createHttpsServer({ key: pair.key, cert: pair.cert, ...extra }, handler)));
    return `https://127.0.0.1:${port}`;
  };
  const https = {
    valid: await httpsOn(certs.valid),
    selfSigned: await httpsOn(certs.selfSigned),
    expired: await httpsOn(certs.expired),
    wrongHost: await httpsOn(certs.wrongHost),
    shortChain: await httpsOn(certs.shortChain),
    tls12Only: await httpsOn(certs.valid, { maxVersion: "TLSv1.2" }),
  };
  const timers = new Set<NodeJS.Timeout>();
  const loris = track(
    createTcpServer((sock) => {
      const line = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
      let i = 0;
      const t = setInterval(() => {
        if (sock.destroyed) return clearInterval(t);
        sock.write(line.subarray(i % line.length, (i % line.length) + 1));
        i++;
      }, 200);
      timers.add(t);
      sock.on("close", () => {
        clearInterval(t);
        timers.delete(t);
      });
      sock.on("error", () => {});
    }),
  );
  const lorisPort = await listen(loris);
  const closer = track(
    createTcpServer((sock) => {
      sock.on("error", () => {});
      sock.resume();
      setTimeout(() => sock.end(), 50);
    }),
  );
  const closerPort = await listen(closer);
  // A port nobody listens on and the kernel never hands out (a released ephemeral port can be
  // taken by another test's server meanwhile, turning "refused" into "open").
  const refusedPort = 1;
  await assertRefused(refusedPort);
  return {
    http: `http://127.0.0.1:${httpPort}`,
    https,
    slowLoris: { host: "127.0.0.1", port: lorisPort },
    closeOnAccept: { host: "127.0.0.1", port: closerPort },
    refusedPort,
    bigBytesWritten: () => bigBytes,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

/** Fails clearly when something listens on 127.0.0.1:`port`, which the refused cases rely on. */
async function assertRefused(port: number): Promise<void> {
  const refused = await new Promise<boolean>((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(false);
    });
    sock.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
  if (!refused) throw new Error(`127.0.0.1:${port} must refuse connections for the "refused" targets, but it does not`);
}

/** An HTTP target whose health a test flips: 200 with `up` while `healthy`, else 503 with `down`. */
export interface FlipTarget {
  readonly port: number;
  healthy: boolean;
  close(): void;
}

/** Starts a {@link FlipTarget} on 127.0.0.1 (healthy at first). */
export async function startFlipTarget(body = { up: "ok\n", down: "down\n" }): Promise<FlipTarget> {
  const target = { healthy: true };
  const server = createHttpServer((_req, res) =>
    res.writeHead(target.healthy ? 200 : 503).end(target.healthy ? body.up : body.down),
  );
  const port = await listenOnLoopback(server);
  return Object.assign(target, { port, close: () => void server.close() });
}
