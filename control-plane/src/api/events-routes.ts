import type { ServerResponse } from "node:http";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { Logger } from "pino";
import { ValidationError } from "../errors.js";
import { filterFromQuery, filterQueryShape } from "../events/filter.js";
import { EVENT_TYPES, parseEventId, type EventHub, type EventType, type FeedFilter } from "../events/live-feed.js";
import { errorResponses } from "./error-schema.js";
import { requires } from "./openapi.js";
import { strictQuery } from "./query-params.js";

/** Options of {@link createEventsRoutes}. */
export interface EventsRoutesOptions {
  hub: Pick<EventHub, "subscribe">;
  log: Logger;
  /** Time between `: ping` comments. @default 15000 */
  heartbeatMs?: number;
}

const TYPES_MESSAGE = `must be ${EVENT_TYPES.join(", ")} or a comma-separated list of them`;
const EVENT_ID_MESSAGE = "must be an event id this API sent (`id:` of an event)";

/** `?state=&label=&region=&types=&lastEventId=&token=` of GET /v1/events. */
export const EventsQuery = strictQuery({
  ...filterQueryShape,
  types: z
    .string({ error: (iss) => (Array.isArray(iss.input) ? "must be given at most once" : TYPES_MESSAGE) })
    .refine((v) => v.split(",").every((t) => (EVENT_TYPES as readonly string[]).includes(t)), TYPES_MESSAGE)
    .optional()
    .openapi({ type: "string", description: `comma-separated: ${EVENT_TYPES.join(", ")} (default all)` }),
  lastEventId: z
    .string({ error: () => EVENT_ID_MESSAGE })
    .refine((v) => parseEventId(v) !== undefined, EVENT_ID_MESSAGE)
    .optional()
    .openapi({ type: "string", description: "resume after this event (as the Last-Event-ID header does)" }),
  token: z.string().optional().openapi({
    type: "string",
    description:
      "the bearer token, for EventSource (which cannot send headers); accepted on this route only, never logged",
  }),
}).openapi("EventsQuery");

const getEvents = createRoute({
  operationId: "streamEvents",
  method: "get",
  path: "/",
  tags: ["consensus"],
  summary: "Live transitions, status changes and hook delivery outcomes (Server-Sent Events)",
  description:
    '`event: transition` (the hook event; with `held: {by: "maintenance", windowId} | {by: "dependency", checkIds}` ' +
    "when a maintenance window or a down dependency held it back from hooks: nothing was delivered, and a later " +
    "release comes again without `held`), `event: status` ({checkId, state, since, regions}), `event: delivery` " +
    "(a delivery-log record); each with an opaque `id:` to resume from (`Last-Event-ID`). A `: ping` comment every " +
    "15 s. A client that does not keep up is disconnected. Any replica serves every partition's events.",
  ...requires("read"),
  request: { query: EventsQuery },
  responses: {
    200: {
      description: "An endless event stream",
      content: {
        "text/event-stream": { schema: z.string().openapi({ example: "event: status\ndata: {...}\nid: 12-3\n\n" }) },
      },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

/** GET /v1/events (mounted at /v1/events). */
export function createEventsRoutes(opts: EventsRoutesOptions): OpenAPIHono {
  const log = opts.log.child({ component: "events-api" });
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const app = new OpenAPIHono();
  app.openapi(getEvents, async (c) => {
    const q = c.req.valid("query");
    const header = c.req.header("last-event-id");
    const lastId = header ?? q.lastEventId;
    const after = lastId === undefined || lastId === "" ? undefined : parseEventId(lastId);
    if (lastId !== undefined && lastId !== "" && !after)
      throw new ValidationError(`Last-Event-ID ${EVENT_ID_MESSAGE}`, { field: "Last-Event-ID" });
    const filter: FeedFilter = filterFromQuery(q);
    if (q.types !== undefined) filter.types = new Set(q.types.split(",") as EventType[]);
    const sub = await opts.hub.subscribe(filter, after);
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => sub.close("client"));
      sub.onEnd((reason) => {
        if (reason !== "overflow") return;
        // Too slow: its socket is likely full, so a write or a graceful close would wait on it; cut it.
        log.info("event client disconnected: too slow to read its events");
        outgoing?.destroy();
        stream.abort();
      });
      const ping = setInterval(() => void stream.write(": ping\n\n"), heartbeatMs);
      try {
        // An SSE comment first: headers and the stream reach the client at once.
        await stream.write(": connected\n\n");
        for (;;) {
          const batch = await sub.take();
          if (batch.length === 0) break;
          for (const e of batch) {
            if (sub.ended) break;
            await stream.writeSSE(e);
          }
        }
      } finally {
        clearInterval(ping);
        sub.close("client");
      }
    });
  });
  return app;
}
