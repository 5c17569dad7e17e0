import { IP_PREFERENCES } from "@probemesh/proto";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { abortFailure, onAbort } from "./abort.js";
import type { Failure } from "./outcome.js";

/** One resolved address. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Looks a host name up and returns every address (system order). Injectable for tests. */
export type LookupFn = (host: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo through libuv), as the OS and other tools see names. */
export const systemLookup: LookupFn = async (host) => {
  const found = await dnsLookup(host, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Result of `resolveHost`: the addresses to probe, or why there are none. */
export type Resolution =
  | { ok: true; addresses: ResolvedAddress[]; /** Lookup time; absent for IP literals. */ dnsMs?: number }
  | { ok: false; failure: Failure; dnsMs?: number };

/** Options of `resolveHost`. */
export interface ResolveOptions {
  /** One of proto's IP_PREFERENCES ("ip4", "ip6") or "" (system order). Falls back to the other family when the preferred one has no address. */
  ipPreference: string;
  /** Return every address (of the preferred family when one is set) instead of the first. */
  all: boolean;
  signal: AbortSignal;
  lookup: LookupFn;
  now: () => number;
}

type IpPreference = (typeof IP_PREFERENCES)[number];
/** Address family of each preference of the vocabulary. */
const FAMILY: { readonly [P in IpPreference]: 4 | 6 } = { ip4: 4, ip6: 6 };
const isIpPreference = (s: string): s is IpPreference => (IP_PREFERENCES as readonly string[]).includes(s);

/** Strips the brackets URL hosts put around IPv6 literals. */
export function bareHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Resolves a host name with timing, honouring the IP family preference. Never rejects. */
export async function resolveHost(hostInput: string, opts: ResolveOptions): Promise<Resolution> {
  const host = bareHost(hostInput);
  const literal = isIP(host);
  if (literal) return { ok: true, addresses: [{ address: host, family: literal === 6 ? 6 : 4 }] };
  if (host === "") return { ok: false, failure: { reason: "dns", message: "empty host name" } };
  const started = opts.now();
  const aborted = onAbort(opts.signal, () => ({ aborted: true as const }));
  try {
    const found = await Promise.race([
      opts.lookup(host).then(
        (addresses) => ({ addresses }),
        (err: unknown) => ({ err }),
      ),
      aborted.promise,
    ]);
    const dnsMs = opts.now() - started;
    if ("aborted" in found) return { ok: false, failure: abortFailure(opts.signal, "dns lookup"), dnsMs };
    if ("err" in found) {
      const code = (found.err as { code?: string }).code ?? "";
      return {
        ok: false,
        failure: { reason: "dns", message: `lookup ${host} failed${code ? `: ${code}` : ""}` },
        dnsMs,
      };
    }
    let addresses = found.addresses;
    const preferred = isIpPreference(opts.ipPreference) ? FAMILY[opts.ipPreference] : 0;
    if (preferred) {
      const same = addresses.filter((a) => a.family === preferred);
      // Like blackbox_exporter's ip_protocol_fallback: a preference, not a requirement.
      if (same.length > 0) addresses = same;
    }
    if (addresses.length === 0)
      return { ok: false, failure: { reason: "dns", message: `lookup ${host} returned no address` }, dnsMs };
    return { ok: true, addresses: opts.all ? dedupe(addresses) : addresses.slice(0, 1), dnsMs };
  } finally {
    aborted.dispose();
  }
}

function dedupe(list: ResolvedAddress[]): ResolvedAddress[] {
  const seen = new Set<string>();
  return list.filter((a) => (seen.has(a.address) ? false : (seen.add(a.address), true)));
}
