import type { ActionResult, Hook, HookEvent } from "../types.js";
import {
  ADMIN_FORCED_MAINT,
  haproxyCommand,
  isServing,
  parseServersState,
  type HaproxyServerState,
} from "./haproxy-runtime.js";
import { directionOf, errorMessage, unchanged, type ActionContext, type HookAdapter } from "./types.js";

function describeState(s: HaproxyServerState): string {
  return `${s.backend}/${s.name} ${(s.adminState & ADMIN_FORCED_MAINT) !== 0 ? "maint" : isServing(s) ? "ready" : `op_state=${s.opState} admin_state=${s.adminState}`}`;
}

/**
 * `haproxy`: puts one server in maintenance on failover (`set server <backend>/<server> state maint`)
 * and back on failback (`state ready`) over the runtime API, then reads `show servers state` back.
 * Refuses to put the last serving server of the backend in maintenance (fail open).
 */
export function createHaproxyAdapter(): HookAdapter {
  async function read(
    hook: Hook,
    ctx: ActionContext,
  ): Promise<{ servers: HaproxyServerState[]; target?: HaproxyServerState }> {
    const o = hook.haproxy;
    if (!o) throw new Error("hook has no haproxy options");
    const servers = parseServersState(await haproxyCommand(o.socket, `show servers state ${o.backend}`, ctx.signal));
    return { servers, target: servers.find((s) => s.name === o.server) };
  }

  async function verify(event: HookEvent, hook: Hook, ctx: ActionContext): Promise<ActionResult> {
    const o = hook.haproxy;
    const dir = directionOf(event.type);
    const action = `check ${o?.backend}/${o?.server}`;
    try {
      const { target } = await read(hook, ctx);
      if (!target) return { ok: false, action, verified: false, error: `server ${o?.backend}/${o?.server} not found` };
      const inMaint = (target.adminState & ADMIN_FORCED_MAINT) !== 0;
      const verified = dir === "test" || dir === "none" ? true : dir === "failover" ? inMaint : !inMaint;
      return {
        ok: verified,
        action,
        verified,
        observed: describeState(target),
        ...(verified ? {} : { error: "server is not in the wanted state" }),
      };
    } catch (err) {
      return { ok: false, action, verified: false, error: errorMessage(err) };
    }
  }

  return {
    type: "haproxy",
    readBack: true,
    verify,
    async apply(event, hook, ctx) {
      const o = hook.haproxy;
      if (!o) return { ok: false, action: "haproxy", refused: "hook has no haproxy options" };
      const dir = directionOf(event.type);
      if (dir === "test") return verify(event, hook, ctx);
      if (dir === "none") return unchanged(event, `${o.backend}/${o.server}`);
      const state = dir === "failover" ? "maint" : "ready";
      const action = `set server ${o.backend}/${o.server} state ${state}`;
      try {
        const { servers, target } = await read(hook, ctx);
        if (!target)
          return { ok: false, action, error: `server ${o.backend}/${o.server} not found in 'show servers state'` };
        if (dir === "failover" && (target.adminState & ADMIN_FORCED_MAINT) === 0) {
          const others = servers.filter((s) => s.name !== o.server && isServing(s));
          if (others.length === 0) {
            return {
              ok: false,
              action,
              refused: `${o.backend}/${o.server} is the last serving server of backend ${o.backend}: left in service (fail open)`,
              observed: describeState(target),
              ...(hook.dryRun ? { dryRun: true } : {}),
            };
          }
        }
        if (hook.dryRun) return { ok: true, dryRun: true, action: `would ${action}`, observed: describeState(target) };
        const answer = (await haproxyCommand(o.socket, action, ctx.signal)).trim();
        if (answer !== "") return { ok: false, action, error: `HAProxy answered: ${answer.slice(0, 200)}` };
      } catch (err) {
        return { ok: false, action, error: errorMessage(err) };
      }
      const check = await verify(event, hook, ctx);
      return { ...check, action };
    },
  };
}
