import { BlockList, isIP } from "node:net";

/** Loopback and private (RFC 1918, RFC 4193 unique local, link-local) ranges. */
const PRIVATE = new BlockList();
PRIVATE.addSubnet("127.0.0.0", 8, "ipv4");
PRIVATE.addSubnet("10.0.0.0", 8, "ipv4");
PRIVATE.addSubnet("172.16.0.0", 12, "ipv4");
PRIVATE.addSubnet("192.168.0.0", 16, "ipv4");
PRIVATE.addSubnet("169.254.0.0", 16, "ipv4");
PRIVATE.addAddress("::1", "ipv6");
PRIVATE.addSubnet("fc00::", 7, "ipv6");
PRIVATE.addSubnet("fe80::", 10, "ipv6");

/** The host of host:port (IPv6 without its brackets). */
export function hostOf(addr: string): string {
  return addr
    .slice(0, addr.lastIndexOf(":"))
    .replace(/^\[(.*)\]$/, "$1")
    .toLowerCase();
}

/**
 * Why the unauthenticated metrics listener may not listen on host:port `addr`: only `localhost`, a
 * loopback or a private address is accepted unless `insecure` (PROBEMESH_INSECURE=true). Undefined
 * when it may.
 */
export function metricsAddrProblem(addr: string, insecure: boolean): string | undefined {
  if (insecure) return undefined;
  const host = hostOf(addr);
  const family = isIP(host);
  if (host === "localhost" || (family !== 0 && PRIVATE.check(host, family === 4 ? "ipv4" : "ipv6"))) return undefined;
  return `${addr} is not a loopback or private address, and /metrics is served there without a token: use a loopback or private address (e.g. 127.0.0.1:9464), or set PROBEMESH_INSECURE=true to serve it anyway`;
}
