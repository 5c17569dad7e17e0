import { sleep } from "../../sleep.js";
import { queryAddresses } from "../dns/client.js";
import type { ActionResult, DnsSwapOptions, Hook, HookEvent } from "../types.js";
import { directionOf, errorMessage, unchanged, type ActionContext, type HookAdapter } from "./types.js";

/** How long a DNS change may take to become visible on the verify server. @default 3000 */
export const DNS_VERIFY_WINDOW_MS = 3000;

/** The addresses an event asks for: the standby on failover, the primary on failback. */
export function wantedAddresses(event: HookEvent, o: DnsSwapOptions): string[] {
  return [...(directionOf(event.type) === "failover" ? o.standby : o.primary)].sort();
}

// Events that ask for no particular addresses: the read-back reports what is there.
function readOnly(event: HookEvent): boolean {
  const dir = directionOf(event.type);
  return dir === "test" || dir === "none";
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * An adapter that swaps an A/AAAA RRset between primary and standby addresses: `write` changes the
 * RRset on the server (API or DNS UPDATE), then a DNS query to `verifyServer` reads it back. Refuses
 * to switch to the standby while the standby's own check is known to be down (fail open).
 */
export function createDnsSwapAdapter(
  type: "powerdns" | "rfc2136",
  options: (hook: Hook) => DnsSwapOptions | undefined,
  write: (hook: Hook, addresses: string[], ctx: ActionContext) => Promise<void>,
  describeWrite: (o: DnsSwapOptions, addresses: string[]) => string,
): HookAdapter {
  async function verify(event: HookEvent, hook: Hook, ctx: ActionContext): Promise<ActionResult> {
    const o = options(hook);
    if (!o) return { ok: false, action: type, refused: `hook has no ${type} options` };
    const action = `query ${o.name} ${o.recordType} at ${o.verifyServer}`;
    const wanted = wantedAddresses(event, o);
    const deadline = ctx.now() + DNS_VERIFY_WINDOW_MS;
    let observed: string[] = [];
    try {
      for (;;) {
        observed = await queryAddresses(o.verifyServer, o.name, o.recordType, ctx.signal);
        if (readOnly(event) || same(observed, wanted) || ctx.now() >= deadline || ctx.signal.aborted) break;
        await sleep(100, ctx.signal);
      }
    } catch (err) {
      return { ok: false, action, verified: false, error: errorMessage(err) };
    }
    const verified = readOnly(event) || same(observed, wanted);
    return {
      ok: verified,
      action,
      verified,
      observed: `${o.name} ${o.recordType} ${observed.join(" ") || "(none)"}`,
      ...(verified ? {} : { error: `DNS answers ${observed.join(" ") || "nothing"}, wanted ${wanted.join(" ")}` }),
    };
  }

  return {
    type,
    readBack: true,
    verify,
    async apply(event, hook, ctx) {
      const o = options(hook);
      if (!o) return { ok: false, action: type, refused: `hook has no ${type} options` };
      const dir = directionOf(event.type);
      if (dir === "test") return verify(event, hook, ctx);
      if (dir === "none") return unchanged(event, `${o.name} ${o.recordType}`);
      const wanted = wantedAddresses(event, o);
      const action = describeWrite(o, wanted);
      if (dir === "failover" && o.standbyCheckId) {
        const standbyState = await ctx.checkState(o.standbyCheckId).catch(() => undefined);
        if (standbyState === "down") {
          return {
            ok: false,
            action,
            refused: `standby check ${o.standbyCheckId} is down: ${o.name} keeps the primary addresses (fail open)`,
            ...(hook.dryRun ? { dryRun: true } : {}),
          };
        }
      }
      if (hook.dryRun) return { ok: true, dryRun: true, action: `would ${action}` };
      try {
        await write(hook, wanted, ctx);
      } catch (err) {
        return { ok: false, action, error: ctx.signal.aborted ? "timed out" : errorMessage(err) };
      }
      return { ...(await verify(event, hook, ctx)), action };
    },
  };
}
