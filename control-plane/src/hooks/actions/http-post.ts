import { signWebhook } from "../signing.js";
import type { ActionResult, Hook } from "../types.js";
import { errorMessage, type ActionContext } from "./types.js";

/** User-Agent of every HTTP delivery. */
export const USER_AGENT = "probemesh-hooks/1";

/**
 * POSTs `payload` as JSON to the hook's URL, signed per Standard Webhooks with the hook's secrets
 * (the `webhook-id` is the delivery id, the same on every retry). 2xx = delivered; 410 = disable
 * the hook; anything else, or a network error, is a failure to retry.
 */
export async function postSigned(
  hook: Hook,
  payload: unknown,
  ctx: ActionContext,
  action: string,
): Promise<ActionResult & { body?: string }> {
  const body = JSON.stringify(payload);
  if (hook.dryRun) return { ok: true, dryRun: true, action: `would ${action}` };
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": USER_AGENT };
  if (hook.secret) {
    Object.assign(headers, signWebhook([hook.secret, ...hook.previousSecrets], ctx.deliveryId, ctx.now() / 1000, body));
  }
  let res: Response;
  try {
    res = await fetch(hook.url, { method: "POST", headers, body, signal: ctx.signal, redirect: "manual" });
  } catch (err) {
    return { ok: false, action, error: ctx.signal.aborted ? "timed out" : errorMessage(err) };
  }
  // Read (a bounded part of) the body so the connection can be reused, and for receivers that answer in it.
  const text = (await res.text().catch(() => "")).slice(0, 4096);
  if (res.status >= 200 && res.status < 300) return { ok: true, action, status: res.status, body: text };
  if (res.status === 410) return { ok: false, action, status: 410, disable: true, error: "receiver answered 410 Gone" };
  return { ok: false, action, status: res.status, error: `receiver answered HTTP ${res.status}` };
}

/** verify() of push-only receivers: their 2xx on delivery is the only confirmation there is. */
export async function pushOnlyVerify(action: string): Promise<ActionResult> {
  return {
    ok: true,
    action,
    verified: false,
    observed: "push-only receiver: its 2xx answer on delivery is the confirmation",
  };
}
