import type { HookType } from "../types.js";
import { createAlertmanagerAdapter } from "./alertmanager.js";
import { createHaproxyAdapter } from "./haproxy.js";
import { createPagerdutyAdapter } from "./pagerduty.js";
import { createPowerdnsAdapter } from "./powerdns.js";
import { createRfc2136Adapter } from "./rfc2136.js";
import { createSlackAdapter } from "./slack.js";
import type { HookAdapter } from "./types.js";
import { createWebhookAdapter } from "./webhook.js";

/** One adapter per hook type. */
export type AdapterSet = Record<HookType, HookAdapter>;

/** The built-in adapters. */
export function createAdapters(): AdapterSet {
  return {
    webhook: createWebhookAdapter(),
    haproxy: createHaproxyAdapter(),
    powerdns: createPowerdnsAdapter(),
    rfc2136: createRfc2136Adapter(),
    pagerduty: createPagerdutyAdapter(),
    alertmanager: createAlertmanagerAdapter(),
    slack: createSlackAdapter(),
  };
}

export { directionOf, type ActionContext, type Direction, type HookAdapter } from "./types.js";
