import { postSigned, pushOnlyVerify } from "./http-post.js";
import type { HookAdapter } from "./types.js";

/** `webhook`: POSTs the event JSON itself, signed per Standard Webhooks. */
export function createWebhookAdapter(): HookAdapter {
  return {
    type: "webhook",
    readBack: false,
    async apply(event, hook, ctx) {
      const { body: _body, ...result } = await postSigned(hook, event, ctx, `POST ${event.type} event`);
      return result;
    },
    verify: (event) => pushOnlyVerify(`POST ${event.type} event`),
  };
}
