// Public surface of the failover hooks.
export { createHooks } from "./hooks.js";
export { wants, handles, DEFAULT_EVENTS, SUPPORTED_EVENTS } from "./subscription.js";
export { hookEventFromTransition, hookEventsFromTransition, reannouncements } from "./from-transition.js";
export type { Hooks, HooksOptions, HooksStats, PublishOptions, PublishResult } from "./hooks.js";
export { checkFence, formatFence, parseFence } from "./fence.js";
export type { FenceCheck, FenceJudge } from "./fence.js";
export { createHookRelay, REANNOUNCE_WINDOW_MS, RELEASE_EVERY_MS } from "./relay.js";
export type { HookRelay, HookRelayOptions, HookRelayStats } from "./relay.js";
export {
  generateSecret,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
  SECRET_PREFIX,
  DEFAULT_TOLERANCE_SEC,
} from "./signing.js";
export type { VerifyOptions, WebhookHeaders } from "./signing.js";
export { validateHook, publicHook, HOOK_ID_PATTERN, MASK, SECRET_MASK } from "./validate-hook.js";
export type { ValidateHookOptions, ValidatedHook } from "./validate-hook.js";
export { validateEvent } from "./validate-event.js";
export { createKvHookRegistry, createMemoryHookRegistry, HOOKS_BUCKET } from "./registry.js";
export type { HookRegistry } from "./registry.js";
export {
  createJetStreamDeliveryLog,
  createMemoryDeliveryLog,
  ensureHookLogStream,
  HOOK_LOG_STREAM,
  HOOK_LOG_SUBJECT_PREFIX,
} from "./delivery-log.js";
export type { DeliveryLog, HookLogStreamOptions } from "./delivery-log.js";
export {
  DELIVERIES_STREAM,
  DELIVERIES_SUBJECT_PREFIX,
  DELIVERIES_CONSUMER,
  CLAIMS_STREAM,
  deliveryId,
  ensureDeliveryStream,
  enqueueDelivery,
} from "./delivery-queue.js";
export type { DeliveryStreamOptions, QueuedDelivery } from "./delivery-queue.js";
export { createDeliveryWorker } from "./delivery-worker.js";
export type { DeliveryStats, DeliveryWorker, DeliveryWorkerOptions } from "./delivery-worker.js";
export { createAdapters, directionOf } from "./actions/index.js";
export type { ActionContext, AdapterSet, Direction, HookAdapter } from "./actions/index.js";
export { HOOK_EVENT_TYPES, HOOK_TYPES, ACTION_HOOK_TYPES } from "./types.js";
export type {
  ActionResult,
  DeliveryOutcome,
  DeliveryRecord,
  Hook,
  HookEvent,
  HookEventData,
  HookEventType,
  HookRecord,
  HookType,
} from "./types.js";
