import type { HookEvent, HookRecord } from "./types.js";

/** True when an enabled hook is subscribed to `event` (its type and check); test events go to their one hook. */
export function wants(rec: HookRecord, event: HookEvent): boolean {
  if (rec.disabled) return false;
  if (event.type === "test") return true;
  if (!rec.hook.events.includes(event.type)) return false;
  return rec.hook.checks.length === 0 || rec.hook.checks.includes(event.data.checkId);
}
