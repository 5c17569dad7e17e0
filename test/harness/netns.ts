import { execFileSync } from "node:child_process";

/**
 * Network namespaces as separate "regions" on one machine: each namespace gets a veth pair to the
 * root namespace on its own 198.18.<n>.0/24 (RFC 2544 benchmark range, never routed anywhere) and a
 * default route back, so processes inside reach addresses the test adds to the root namespace's `lo`.
 * Paths are cut with blackhole routes inside a namespace. Needs root.
 */
export interface Region {
  readonly name: string;
  readonly netns: string;
  /** Address of the namespace's end of its veth. */
  readonly address: string;
  /** Makes `ip` unreachable from inside this namespace (blackhole route). */
  cut(ip: string): void;
  /** Undoes `cut`. */
  restore(ip: string): void;
}

export interface Regions {
  readonly regions: Region[];
  /** Adds `ip`/32 to the root namespace's loopback so every region can reach it; removed by dispose(). */
  addHostAddress(ip: string): void;
  dispose(): void;
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespace tests need root (ip netns); skipped";
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `ip netns does not work here (${String(err)}); skipped`;
  }
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

/** Creates one namespace per region name. Names are unique per process so parallel runs do not collide. */
export function createRegions(names: readonly string[], subnetBase = 1 + (process.pid % 200)): Regions {
  const tag = `pm${process.pid % 100000}`;
  const created: { netns: string; veth: string }[] = [];
  const hostAddrs: string[] = [];
  const regions: Region[] = [];
  try {
    names.forEach((name, i) => {
      const netns = `${tag}-${i}`;
      const veth = `${tag}v${i}`;
      const subnet = `198.18.${(subnetBase + i) % 250}`;
      ip("netns", "add", netns);
      created.push({ netns, veth });
      ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns);
      ip("addr", "add", `${subnet}.1/24`, "dev", veth);
      ip("link", "set", veth, "up");
      ip("-n", netns, "addr", "add", `${subnet}.2/24`, "dev", "eth0");
      ip("-n", netns, "link", "set", "eth0", "up");
      ip("-n", netns, "link", "set", "lo", "up");
      ip("-n", netns, "route", "add", "default", "via", `${subnet}.1`);
      regions.push({
        name,
        netns,
        address: `${subnet}.2`,
        cut: (addr) => ip("-n", netns, "route", "replace", "blackhole", `${addr}/32`),
        restore: (addr) => ip("-n", netns, "route", "del", "blackhole", `${addr}/32`),
      });
    });
  } catch (err) {
    teardown();
    throw err;
  }
  function teardown(): void {
    for (const addr of hostAddrs.splice(0)) {
      try {
        ip("addr", "del", `${addr}/32`, "dev", "lo");
      } catch {
        // already gone
      }
    }
    for (const { netns, veth } of created.splice(0)) {
      try {
        ip("link", "del", veth);
      } catch {
        // removed with the namespace
      }
      try {
        ip("netns", "del", netns);
      } catch {
        // already gone
      }
    }
  }
  return {
    regions,
    addHostAddress(addr) {
      ip("addr", "add", `${addr}/32`, "dev", "lo");
      hostAddrs.push(addr);
    },
    dispose: teardown,
  };
}
