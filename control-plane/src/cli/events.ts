import type { ApiClient, ApiAnswer } from "./http.js";
import { answerProblem } from "./http.js";
import { CliError } from "./errors.js";
import { isObject } from "./mesh-file.js";

/** One Server-Sent Event. */
export interface StreamEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * Splits a Server-Sent Events text stream into events (comments such as `: ping` skipped). Feed it
 * chunks; it calls `onEvent` for each complete event.
 */
export function sseParser(onEvent: (e: StreamEvent) => void): (chunk: string) => void {
  let buffer = "";
  let id: string | undefined;
  let event = "";
  let data: string[] = [];
  return (chunk) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === "\r" ? 2 : 1));
      if (line === "") {
        if (data.length > 0 || event !== "") onEvent({ id, event: event || "message", data: data.join("\n") });
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
  };
}

/** One line for an event: time, name, and what it says (check, state, hook outcome). */
export function eventLine(e: StreamEvent): string {
  let d: unknown;
  try {
    d = JSON.parse(e.data);
  } catch {
    return `${e.event} ${e.data}`;
  }
  const o = isObject(d) ? d : {};
  const data = isObject(o.data) ? o.data : {};
  const at = typeof o.at === "number" ? o.at : typeof o.since === "number" ? o.since : Date.now();
  const time = new Date(at).toISOString();
  const str = (v: unknown) => (typeof v === "string" || typeof v === "number" ? String(v) : "");
  switch (e.event) {
    case "transition": {
      const held = isObject(o.held)
        ? ` held=${str(o.held.by)}${o.held.windowId !== undefined ? `:${str(o.held.windowId)}` : ""}${Array.isArray(o.held.checkIds) ? `:${o.held.checkIds.map(str).join(",")}` : ""}`
        : "";
      return `${time} transition ${str(o.type)} ${str(o.checkId ?? data.checkId)}${data.state ? ` state=${str(data.state)}` : ""}${held}`;
    }
    case "status": {
      const regions = isObject(o.regions)
        ? Object.entries(o.regions)
            .map(([r, s]) => `${r}=${isObject(s) ? str(s.state) : ""}`)
            .join(",")
        : "";
      return `${time} status ${str(o.checkId)} ${str(o.state)}${regions ? ` regions=${regions}` : ""}`;
    }
    case "delivery":
      return `${new Date().toISOString()} delivery hook=${str(o.hookId)} event=${str(o.eventId)} outcome=${str(o.outcome)}${o.attempt !== undefined ? ` attempt=${str(o.attempt)}` : ""}${o.status !== undefined ? ` status=${str(o.status)}` : ""}`;
    default:
      return `${time} ${e.event} ${e.data}`;
  }
}

/** Options of {@link followEvents}. */
export interface FollowOptions {
  /** Query string (with `?`) of the filters, or "". */
  query: string;
  /** Prints one event. */
  print: (e: StreamEvent) => void;
  /** Reports a reconnection (stderr). */
  warn: (line: string) => void;
  /**
   * Told once the server follows the stream for this client (each connection): events decided from
   * then on are printed. Until then a filter that selects nothing and a stream not yet open look alike. @default nothing
   */
  connected?: (line: string) => void;
  /** Stop after this many events. */
  limit?: number;
  signal?: AbortSignal;
  /** Longest pause between reconnections. @default 10000 */
  maxBackoffMs?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Follows GET /v1/events until `limit` events or the signal: every event printed once; after a
 * dropped connection it reconnects (backing off up to `maxBackoffMs`) with `Last-Event-ID`, so
 * events in between are not lost. A refused token or bad filter (4xx) ends it with an error.
 */
export async function followEvents(api: ApiClient, opts: FollowOptions): Promise<number> {
  let lastId: string | undefined;
  let seen = 0;
  let pause = 250;
  const maxPause = opts.maxBackoffMs ?? 10_000;
  while (!opts.signal?.aborted) {
    let reason = "the stream ended";
    try {
      const res = await api.open(
        `/v1/events${opts.query}`,
        lastId !== undefined ? { "last-event-id": lastId } : {},
        opts.signal,
      );
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          body = undefined;
        }
        const answer: ApiAnswer = { status, headers: {}, body };
        if (status >= 400 && status < 500) throw answerProblem("following events", answer);
        reason = `HTTP ${status}`;
      } else {
        pause = 250;
        opts.connected?.(
          `events: following /v1/events${opts.query} ${lastId !== undefined ? `after ${lastId}` : "from now"}`,
        );
        let done = false;
        const feed = sseParser((e) => {
          if (done) return;
          if (e.id !== undefined) lastId = e.id;
          opts.print(e);
          seen++;
          if (opts.limit !== undefined && seen >= opts.limit) {
            done = true;
            res.destroy();
          }
        });
        res.setEncoding("utf8");
        try {
          for await (const chunk of res) {
            feed(chunk as string);
            if (done) break;
          }
        } catch (err) {
          if (!done && !opts.signal?.aborted) reason = err instanceof Error ? err.message : String(err);
        }
        if (done) return seen;
      }
    } catch (err) {
      if (opts.signal?.aborted) break;
      if (err instanceof CliError && /following events/.test(err.message)) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
    if (opts.signal?.aborted) break;
    opts.warn(`events: ${reason}; reconnecting in ${pause} ms${lastId !== undefined ? ` from ${lastId}` : ""}`);
    await sleep(pause, opts.signal);
    pause = Math.min(pause * 2, maxPause);
  }
  return seen;
}
