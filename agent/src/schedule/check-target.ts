import type { Check } from "@probemesh/proto";

/** What a check probes, for results the scheduler must write itself (timeouts, missing probers). */
export function checkTarget(check: Check): string {
  switch (check.type) {
    case "http":
      return check.http?.url ?? "";
    case "tcp":
      return check.tcp ? `${check.tcp.host}:${check.tcp.port}` : "";
    case "dns":
      return check.dns ? `${check.dns.name}@${check.dns.resolver}` : "";
    case "tls":
      return check.tls ? `${check.tls.host}:${check.tls.port}` : "";
    case "grpc":
      return check.grpc?.address ?? "";
    case "icmp":
      return check.icmp?.host ?? "";
    default:
      return "";
  }
}
