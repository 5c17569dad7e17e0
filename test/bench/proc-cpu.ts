// CPU time of another process (a harness's server), for the ingest benchmarks.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU ms a process has used (user + system), from /proc/<pid>/stat. */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) -> indexes 11 and 12 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}
