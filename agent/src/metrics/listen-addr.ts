import { BlockList, isIP } from "node:net";

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ["127.0.0.0", 8],
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["169.254.0.0", 16],
] as const)
  PRIVATE.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
] as const)
  PRIVATE.addSubnet(net, bits, "ipv6");

/**
 * Why PROBEMESH_METRICS_ADDR may not be host:port `addr` (undefined when it may): it serves without
 * a token, so only localhost, loopback and private (RFC 1918, unique-local, link-local) addresses
 * are accepted unless `insecure`.
 */
export function metricsAddrProblem(addr: string, insecure: boolean): string | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:[\]]+):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) return `${JSON.stringify(addr)} is not host:port (IPv6 as [addr]:port)`;
  const host = (m[1] ?? "").toLowerCase();
  const family = isIP(host);
  if (insecure || host === "localhost" || (family !== 0 && PRIVATE.check(host, family === 4 ? "ipv4" : "ipv6")))
    return undefined;
  return `${addr} is not a loopback or private address, and /metrics is served there without a token: use one (e.g. 127.0.0.1:9465), or set PROBEMESH_INSECURE=true to serve it anyway`;
}
