import { replaceRecords } from "../dns/client.js";
import { createDnsSwapAdapter } from "./dns-swap.js";
import type { HookAdapter } from "./types.js";

/** `rfc2136`: replaces the RRset with a TSIG-signed DNS UPDATE (BIND, Knot, ...), then queries the server. */
export function createRfc2136Adapter(): HookAdapter {
  return createDnsSwapAdapter(
    "rfc2136",
    (hook) => hook.rfc2136,
    async (hook, addresses, ctx) => {
      const o = hook.rfc2136;
      if (!o) throw new Error("hook has no rfc2136 options");
      await replaceRecords({
        server: o.server,
        zone: o.zone,
        name: o.name,
        recordType: o.recordType,
        ttl: o.ttl,
        addresses,
        tsig: { name: o.tsig.name, secret: o.tsig.secret },
        signal: ctx.signal,
        now: ctx.now,
      });
    },
    (o, addresses) => `DNS UPDATE zone ${o.zone}: ${o.name} ${o.recordType} = ${addresses.join(" ")}`,
  );
}
