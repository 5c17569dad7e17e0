import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

/** One request a receiver got. */
export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local HTTP consumer of hook deliveries that can be taken down and brought back on the same port. */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  /** Status answered (after `delayMs`); 200 by default. */
  status: number;
  delayMs: number;
  /** JSON answered with the status, or a function of the request body computing it. */
  reply: unknown;
  /** Stops listening (connections are refused) until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 and a kernel-chosen port. */
export async function startReceiver(): Promise<Receiver> {
  let server: Server | undefined;
  let port = 0;
  const r = {
    received: [] as Received[],
    status: 200,
    delayMs: 0,
    reply: { ok: true } as unknown,
  };
  const listen = async () => {
    const s = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        r.received.push({
          at: Date.now(),
          path: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        const status = r.status;
        const body = Buffer.concat(chunks).toString("utf8");
        const reply = JSON.stringify(
          typeof r.reply === "function" ? (r.reply as (b: string) => unknown)(body) : r.reply,
        );
        setTimeout(() => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(reply);
        }, r.delayMs);
      });
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    const addr = s.address();
    port = typeof addr === "object" && addr ? addr.port : port;
    server = s;
  };
  await listen();
  const down = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    down,
    up: listen,
    close: down,
  });
}

/** A pino logger writing into memory, so tests can assert what was (and was not) logged. */
export function memoryLogger(): { log: Logger; text: () => string } {
  let buf = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString("utf8");
      cb();
    },
  });
  return { log: pino({ level: "debug" }, stream), text: () => buf };
}

/** An event as the consensus engine would publish it. */
export function outageEvent(
  type: "outage.opened" | "outage.resolved",
  opts: { outageId: string; checkId?: string; at?: number },
) {
  const at = opts.at ?? Date.now();
  const opened = type === "outage.opened";
  return {
    id: `${opts.outageId}:${type}`,
    type,
    timestamp: new Date(at).toISOString(),
    data: {
      checkId: opts.checkId ?? "web",
      outageId: opts.outageId,
      state: opened ? "down" : "up",
      regions: {
        "eu-west": { state: opened ? "down" : "up", since: at - 2000 },
        "us-east": { state: opened ? "down" : "up", since: at - 1500 },
      },
      startedAt: at - 2000,
      confirmedAt: at,
      ...(opened ? {} : { resolvedAt: at }),
      reason: opened ? "connect" : undefined,
    },
  } as const;
}
