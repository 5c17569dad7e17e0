// A GET /v1/events client over HTTPS, reading Server-Sent Events as EventSource would (the token in
// the query). The harness's fetch buffers whole bodies, so this reads the socket itself.
import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import type { ControlPlane } from "./mesh.js";

/** One event of the stream: its id, name and JSON data. */
export interface SseEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** A GET /v1/events client reading over HTTPS, as EventSource would (token in the query). */
export interface SseClient {
  readonly events: SseEvent[];
  readonly status: number;
  /** Resolves when the server ended the stream. */
  readonly ended: Promise<void>;
  /** Stops reading the socket (a slow client); `resume()` reads again. */
  pause(): void;
  resume(): void;
  close(): void;
}

/**
 * Opens the stream of `cp` with `query` (e.g. "?types=transition"), resuming after `lastEventId`;
 * resolves once the server answered, so nothing published later is missed.
 */
export function openEvents(
  cp: ControlPlane,
  ca: Buffer,
  token: string,
  query = "",
  lastEventId?: string,
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    const sep = query === "" ? "?" : "&";
    const req = request(
      `${cp.api}/v1/events${query}${sep}token=${encodeURIComponent(token)}`,
      { ca, headers: lastEventId ? { "last-event-id": lastEventId } : {} },
      (res: IncomingMessage) => {
        let pending = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          pending += chunk;
          let i;
          while ((i = pending.indexOf("\n\n")) >= 0) {
            const block = pending.slice(0, i);
            pending = pending.slice(i + 2);
            const e: Partial<SseEvent> = {};
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) e.id = line.slice(4);
              else if (line.startsWith("event: ")) e.event = line.slice(7);
              else if (line.startsWith("data: ")) e.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
            }
            if (e.event) events.push(e as SseEvent);
          }
        });
        const end = () => endedResolve();
        res.on("end", end);
        res.on("close", end);
        res.on("error", end);
        resolve({
          events,
          status: res.statusCode ?? 0,
          ended,
          pause: () => void res.pause(),
          resume: () => void res.resume(),
          close: () => req.destroy(),
        });
      },
    );
    req.on("error", (err) => {
      endedResolve();
      reject(err);
    });
    req.end();
  });
}
