import { createDnsSwapAdapter } from "./dns-swap.js";
import type { HookAdapter } from "./types.js";

/**
 * `powerdns`: replaces the RRset through the PowerDNS Authoritative HTTP API
 * (`PATCH /api/v1/servers/{serverId}/zones/{zone}`, changetype REPLACE), then queries the server.
 */
export function createPowerdnsAdapter(): HookAdapter {
  return createDnsSwapAdapter(
    "powerdns",
    (hook) => hook.powerdns,
    async (hook, addresses, ctx) => {
      const o = hook.powerdns;
      if (!o) throw new Error("hook has no powerdns options");
      const base = hook.url.replace(/\/+$/, "");
      const url = `${base}/api/v1/servers/${encodeURIComponent(o.serverId)}/zones/${encodeURIComponent(o.zone)}`;
      const body = {
        rrsets: [
          {
            name: o.name,
            type: o.recordType,
            ttl: o.ttl,
            changetype: "REPLACE",
            records: addresses.map((content) => ({ content, disabled: false })),
          },
        ],
      };
      const res = await fetch(url, {
        method: "PATCH",
        headers: { "x-api-key": o.apiKey, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: ctx.signal,
      });
      const text = await res.text().catch(() => "");
      if (res.status !== 204 && res.status !== 200) {
        let detail = text.slice(0, 200);
        try {
          detail = String((JSON.parse(text) as { error?: unknown }).error ?? detail);
        } catch {
          // not JSON: keep the text
        }
        throw new Error(`PowerDNS API answered HTTP ${res.status}${detail ? `: ${detail}` : ""}`);
      }
    },
    (o, addresses) => `PATCH zone ${o.zone}: ${o.name} ${o.recordType} = ${addresses.join(" ")}`,
  );
}
