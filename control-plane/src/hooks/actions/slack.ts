import type { HookEvent } from "../types.js";
import { postSigned, pushOnlyVerify } from "./http-post.js";
import { endNote, type ActionContext, type HookAdapter } from "./types.js";

/**
 * Text escaped for Slack: `&`, `<` and `>` are its control characters (`<url|label>` links,
 * `<!channel>` mentions), so a check name or reason can neither link nor notify anyone.
 */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Slack refuses a section text over 3000 characters; the top-level `text` is kept as short.
const MAX_TEXT = 3000;

function clip(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** What happened, in a few words (plain text, escaped by the caller). */
function headline(event: HookEvent, who: string): string {
  const d = event.data;
  switch (event.type) {
    case "outage.opened":
      return `Outage opened: check ${who} is ${d.state}`;
    case "outage.resolved":
      return `Outage resolved: check ${who} is ${d.state}`;
    case "partial.opened":
      return `Partial outage opened: check ${who} is down in some regions`;
    case "partial.resolved":
      return `Partial outage resolved: check ${who} is ${d.state}`;
    case "check.degraded":
      return `Degraded: check ${who} is slow`;
    case "check.recovered":
      return `Recovered: check ${who} is ${d.state}`;
    case "check.error":
      return `Error: check ${who} cannot be probed from any vantage point`;
    case "check.error.resolved":
      return `Error resolved: check ${who} is probed again`;
    case "test":
      return `Test notification from probemesh (check ${who})`;
    default:
      // incident.abandoned, partial.absorbed (and check.deleted, which slack hooks are not sent).
      return `${event.type}: ${endNote(event) ?? `check ${who} is ${d.state}`}`;
  }
}

/** The facts of an event as `label: value` lines (plain text, escaped by the caller). */
function facts(event: HookEvent, name: string | undefined): [string, string][] {
  const d = event.data;
  const out: [string, string][] = [["Check", name ? `${d.checkId} (${name})` : d.checkId]];
  const regions = Object.entries(d.regions)
    .map(([r, s]) => `${r} ${s.state}${s.since !== undefined ? ` since ${iso(s.since)}` : ""}`)
    .join(", ");
  if (regions) out.push(["Regions", regions]);
  if (d.reason) out.push(["Reason", d.reason]);
  if (d.message) out.push(["Message", d.message]);
  const since = iso(d.startedAt ?? d.confirmedAt);
  if (since) out.push(["Since", since]);
  if (d.resolvedAt !== undefined) out.push(["Ended", iso(d.resolvedAt) ?? ""]);
  if (d.outageId) out.push(["Incident", d.outageId]);
  if (d.suppressedBy?.length) out.push(["Suppressed by", d.suppressedBy.join(", ")]);
  return out;
}

/**
 * Slack's incoming-webhook body for an event: `text` (the notification and fallback: what happened,
 * check (its `checkName` when it has one, and id), regions, reason, since when) and `blocks` (the same as a section and a context line). Every
 * value is escaped ({@link slackEscape}) and nothing links outside: the message carries no URL.
 */
export function slackPayload(
  event: HookEvent,
  checkName?: string,
): { text: string; blocks: Record<string, unknown>[] } {
  const name = checkName && checkName !== event.data.checkId ? checkName : undefined;
  const head = slackEscape(headline(event, name ?? event.data.checkId));
  const lines = facts(event, name).map(([k, v]) => `${k}: ${slackEscape(v)}`);
  const text = clip([head, ...lines].join("\n"));
  const blocks = [
    {
      type: "section",
      text: { type: "mrkdwn", text: clip([`*${head}*`, ...lines].join("\n")), verbatim: true },
    },
    {
      type: "context",
      elements: [{ type: "mrkdwn", text: slackEscape(`${event.type} · ${event.timestamp} · ${event.id}`) }],
    },
  ];
  return { text, blocks };
}

/** Longest wait for a check's name: without it the message still goes, with the id only. */
export const CHECK_NAME_WAIT_MS = 1000;

/** The check's name, when the context tells it within {@link CHECK_NAME_WAIT_MS}; never a failure. */
async function nameOf(ctx: ActionContext, checkId: string): Promise<string | undefined> {
  if (!ctx.checkName || ctx.signal.aborted) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, CHECK_NAME_WAIT_MS, undefined);
    ctx.signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
  try {
    return await Promise.race([ctx.checkName(checkId).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `slack`: Slack-compatible incoming webhook (`{text, blocks}`), to the hook's `url` (a secret). */
export function createSlackAdapter(): HookAdapter {
  return {
    type: "slack",
    readBack: false,
    async apply(event, hook, ctx) {
      // The incident.abandoned sent with it already said the incident ended.
      if (event.type === "check.deleted") return { ok: true, action: "nothing to send to Slack for check.deleted" };
      const { body: _body, ...result } = await postSigned(
        hook,
        slackPayload(event, await nameOf(ctx, event.data.checkId)),
        ctx,
        `POST Slack message for ${event.type} of ${event.data.checkId}`,
      );
      return result;
    },
    verify: (event) => pushOnlyVerify(`POST Slack message for ${event.data.checkId}`),
  };
}
