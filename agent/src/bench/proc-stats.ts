import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** User + system CPU seconds a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** Resident set of a process in bytes, split into anonymous (heap, stacks) and file-backed (code) pages (Linux /proc). */
export interface RssSample {
  rss: number;
  anon: number;
  file: number;
}

/** Reads one process's resident set sizes; zeros when the process is gone. */
export function rssSample(pid: number): RssSample {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { rss: 0, anon: 0, file: 0 };
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  return rssSample(pid).rss;
}

/** CPU seconds (user, system) of a process's main thread (`main`: for node, the JS thread) and of all its other threads (`others`: GC helpers, libuv pool). */
export function threadCpu(pid: number): Map<string, { user: number; system: number }> {
  const out = new Map<string, { user: number; system: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue;
    }
    const name = tid === String(pid) ? "main" : "others";
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const t = out.get(name) ?? { user: 0, system: 0 };
    t.user += Number(rest[11]) / CLK_TCK;
    t.system += Number(rest[12]) / CLK_TCK;
    out.set(name, t);
  }
  return out;
}

/** Per-thread CPU used between two `threadCpu` readings, seconds rounded to 0.01. */
export function threadCpuDelta(
  before: ReturnType<typeof threadCpu>,
  after: ReturnType<typeof threadCpu>,
): Record<string, { user: number; system: number }> {
  const r = (n: number) => Math.round(n * 100) / 100;
  const out: Record<string, { user: number; system: number }> = {};
  for (const [name, a] of after) {
    const b = before.get(name) ?? { user: 0, system: 0 };
    out[name] = { user: r(a.user - b.user), system: r(a.system - b.system) };
  }
  return out;
}
