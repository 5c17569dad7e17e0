// GET /v1/events as an EventSource (which cannot send headers: the token goes in `?token=`),
// reconnecting with the last event id so nothing between two connections is lost.
import type { StatusEvent, TransitionEvent, Delivery } from "./types";

export type LiveState = "connecting" | "live" | "reconnecting";

export interface LiveHandlers {
  status(e: StatusEvent): void;
  transition(e: TransitionEvent): void;
  delivery(e: Delivery): void;
  state(s: LiveState): void;
}

/** Opens the stream; returns a function that closes it for good. */
export function connectLive(token: string, on: LiveHandlers): () => void {
  let source: EventSource | undefined;
  let lastId = "";
  let closed = false;
  let retryMs = 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const open = () => {
    if (closed) return;
    on.state(lastId ? "reconnecting" : "connecting");
    const params = new URLSearchParams({ token, types: "status,transition,delivery" });
    if (lastId) params.set("lastEventId", lastId);
    const es = new EventSource(`/v1/events?${params}`);
    source = es;
    const take =
      <T>(fn: (v: T) => void) =>
      (ev: MessageEvent<string>) => {
        if (ev.lastEventId) lastId = ev.lastEventId;
        try {
          fn(JSON.parse(ev.data) as T);
        } catch {
          // a malformed event is skipped; the next status refresh corrects the view
        }
      };
    es.addEventListener("open", () => {
      retryMs = 1000;
      on.state("live");
    });
    es.addEventListener("status", take(on.status));
    es.addEventListener("transition", take(on.transition));
    es.addEventListener("delivery", take(on.delivery));
    es.addEventListener("error", () => {
      if (closed || es.readyState !== EventSource.CLOSED) {
        if (!closed) on.state("reconnecting");
        return;
      }
      // The browser gave up (a 401, a 404 before the route exists, a restart): retry with
      // backoff from the last id; meanwhile the views poll.
      source = undefined;
      on.state("reconnecting");
      timer = setTimeout(() => open(), retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    });
  };
  open();
  return () => {
    closed = true;
    if (timer) clearTimeout(timer);
    source?.close();
  };
}
