/**
 * Benchmark (not a test): the cost of one user-regex evaluation as a probe pays it, for V8's
 * RegExp (backtracking, what the agent used) and the two linear-time RE2 engines considered,
 * `re2js` (pure JS port) and `re2-wasm` (Google's RE2 compiled to WebAssembly), on the same
 * patterns and bodies, in one run.
 *
 *   node agent/dist/bench/regex-bench.js [--min-ms 200]
 *
 * Prints per-match microseconds and the ratio to RegExp for each case, the compile cost per
 * pattern, and, each measured in a fresh child process, the engine's load time and the RSS it
 * adds once loaded with every pattern compiled and run once. The figures are recorded in
 * agent/PROBES.md ("User regular expressions").
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

interface Matcher {
  test(s: string): boolean;
}
interface Engine {
  name: string;
  /** Compiles an RE2-syntax pattern; `js` is the RegExp equivalent where the syntax differs. */
  compile(re2: string, js: RegExp): Matcher;
}

type EngineName = "RegExp" | "re2js" | "re2-wasm";
const ENGINE_NAMES: EngineName[] = ["RegExp", "re2js", "re2-wasm"];

async function loadEngine(name: EngineName): Promise<Engine> {
  if (name === "RegExp") return { name, compile: (_re2, js) => js };
  if (name === "re2js") {
    const { RE2JS } = await import("re2js");
    return { name, compile: (re2) => RE2JS.compile(re2) };
  }
  const { RE2 } = await import("re2-wasm");
  // re2-wasm insists on the `u` flag (it works on code points, as RE2 does).
  return { name, compile: (re2) => new RE2(re2, "u") };
}

/** Deterministic bodies shaped like what health endpoints and pages return. */
function jsonBody(bytes: number): string {
  const items: string[] = [];
  let i = 0;
  let out = "";
  for (;;) {
    items.push(
      `{"id":${i},"name":"service-${i}","region":"eu-west-${i % 3}","healthy":${i % 7 !== 3},"latency_ms":${(i * 37) % 250}}`,
    );
    i++;
    out = `{"status":"ok","version":"4.12.${i % 10}","checks":[${items.join(",")}]}`;
    if (out.length >= bytes) break;
  }
  return out;
}

function htmlBody(bytes: number): string {
  let rows = "";
  let i = 0;
  let out = "";
  for (;;) {
    rows += `<tr class="row-${i % 2}"><td>node-${i}</td><td>running</td><td>${(i * 13) % 100}%</td></tr>\n`;
    i++;
    out = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Status Dashboard</title></head>\n<body><h1>All systems operational</h1><table>\n${rows}</table><footer>build 7f3a9c1</footer></body></html>\n`;
    if (out.length >= bytes) break;
  }
  return out;
}

/** The issue's pattern. */
const BACKTRACKING = String.raw`^(\w+\s?)+$`;

interface Case {
  name: string;
  re2: string;
  js: RegExp;
  body: string;
  /** RegExp would run for minutes (the issue's 89 s): skipped for it. */
  hostile?: boolean;
}

function cases(): Case[] {
  const bodies = {
    "json 1 KiB": jsonBody(1024),
    "json 64 KiB": jsonBody(64 * 1024),
    "html 1 KiB": htmlBody(1024),
    "html 64 KiB": htmlBody(64 * 1024),
  };
  const patterns: Array<{ re2: string; js: RegExp; on: Array<keyof typeof bodies> }> = [
    { re2: String.raw`"status":\s*"ok"`, js: /"status":\s*"ok"/, on: ["json 1 KiB", "json 64 KiB"] },
    {
      re2: String.raw`"version":\s*"\d+\.\d+\.\d+"`,
      js: /"version":\s*"\d+\.\d+\.\d+"/,
      on: ["json 1 KiB", "json 64 KiB"],
    },
    // Absent: the whole body is scanned, the common case of a bodyNotRegex on a healthy page.
    {
      re2: String.raw`(?i)error|exception|fatal`,
      js: /error|exception|fatal/i,
      on: ["json 1 KiB", "json 64 KiB", "html 1 KiB", "html 64 KiB"],
    },
    {
      re2: String.raw`"healthy":false,"latency_ms":\d{3}`,
      js: /"healthy":false,"latency_ms":\d{3}/,
      on: ["json 1 KiB", "json 64 KiB"],
    },
    { re2: String.raw`(?s)^\{.*\}$`, js: /^\{.*\}$/s, on: ["json 1 KiB", "json 64 KiB"] },
    {
      re2: String.raw`<title>[^<]*Dashboard</title>`,
      js: /<title>[^<]*Dashboard<\/title>/,
      on: ["html 1 KiB", "html 64 KiB"],
    },
    { re2: String.raw`build [0-9a-f]{7,40}`, js: /build [0-9a-f]{7,40}/, on: ["html 1 KiB", "html 64 KiB"] },
    { re2: String.raw`</html>\s*$`, js: /<\/html>\s*$/, on: ["html 1 KiB", "html 64 KiB"] },
  ];
  const out: Case[] = [];
  for (const p of patterns)
    for (const b of p.on) out.push({ name: `${p.re2}  on ${b}`, re2: p.re2, js: p.js, body: bodies[b] });
  // Header value and DNS answer: tiny inputs, where per-call overhead dominates.
  out.push({
    name: String.raw`^v\d+\.\d+\.\d+$  on header "v1.2.3"`,
    re2: String.raw`^v\d+\.\d+\.\d+$`,
    js: /^v\d+\.\d+\.\d+$/,
    body: "v1.2.3",
  });
  out.push({
    name: String.raw`^10\.0\.\d+\.\d+$  on answer "10.0.3.7"`,
    re2: String.raw`^10\.0\.\d+\.\d+$`,
    js: /^10\.0\.\d+\.\d+$/,
    body: "10.0.3.7",
  });
  // The issue's pattern: RegExp backtracks exponentially (2^n) on a run of word characters that
  // cannot match; 20 characters are enough to show it, 50 took 89 s.
  out.push({
    name: String.raw`^(\w+\s?)+$  on "a"×20+"!"`,
    re2: String.raw`^(\w+\s?)+$`,
    js: /^(\w+\s?)+$/,
    body: "a".repeat(20) + "!",
  });
  out.push({
    name: String.raw`^(\w+\s?)+$  on "a"×50+"!"`,
    re2: String.raw`^(\w+\s?)+$`,
    js: /^(\w+\s?)+$/,
    body: "a".repeat(50) + "!",
    hostile: true,
  });
  out.push({
    name: String.raw`^(\w+\s?)+$  on "a"×65535+"!"`,
    re2: String.raw`^(\w+\s?)+$`,
    js: /^(\w+\s?)+$/,
    body: "a".repeat(65535) + "!",
    hostile: true,
  });
  return out;
}

/** Mean microseconds per call of `fn`, run until at least `minMs` have passed (after a warm-up). */
function timeIt(fn: () => unknown, minMs: number): number {
  const t0 = performance.now();
  fn();
  // Slow calls (the worst cases) get one warm-up call and are timed one by one.
  const batch = performance.now() - t0 > minMs / 20 ? 1 : 10;
  if (batch > 1) for (let i = 0; i < 20; i++) fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    elapsed = performance.now() - start;
  }
  return (elapsed * 1000) / n;
}

/** Random a/b text: the input that makes `a[ab]{n}[cd]` need 2^n DFA states. */
function abText(chars: number): string {
  let x = 12345;
  let out = "";
  for (let i = 0; i < chars; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out += x & 1 ? "a" : "b";
  }
  return out;
}

/**
 * The slowest patterns found that still fit MAX_USER_REGEX_PROGRAM_SIZE (500 instructions): no
 * literal lets the engine skip the text, and the state sets are large.
 */
function worstCases(): Case[] {
  const out: Case[] = [];
  for (const [label, chars] of [
    ["64 KiB", 64 * 1024],
    ["1 MiB", 1024 * 1024],
  ] as const) {
    out.push({
      name: `a[ab]{496}[cd]  on random a/b ${label}`,
      re2: "a[ab]{496}[cd]",
      js: /a[ab]{496}[cd]/,
      body: abText(chars),
    });
    out.push({
      name: String.raw`\w{497}[!?]  on "a"×${label}`,
      re2: String.raw`\w{497}[!?]`,
      js: /\w{497}[!?]/,
      body: "a".repeat(chars),
    });
  }
  return out;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

/** The installed package's folder (its `exports` hide package.json from require.resolve). */
function packageRoot(name: string): string {
  const entry = require.resolve(name);
  const marker = `node_modules/${name}`;
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length);
}

const ratio = (r: number) => `${r >= 0.1 ? r.toFixed(1) : r.toPrecision(1)}×`;

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
}

const fmt = (us: number) => (us < 10 ? us.toFixed(2) : us < 1000 ? us.toFixed(1) : us.toFixed(0));

/** Child mode: load one engine, compile and run every case once, report load ms and RSS added. */
async function child(name: EngineName): Promise<void> {
  const all = cases();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const engine = await loadEngine(name);
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  for (const c of all) {
    if (name === "RegExp" && (c.hostile || c.re2 === BACKTRACKING)) continue;
    engine.compile(c.re2, c.js).test(c.body);
  }
  const firstRunMs = performance.now() - t1;
  process.stdout.write(
    JSON.stringify({ loadMs, firstRunMs, rssAddedMb: (process.memoryUsage().rss - rss0) / 2 ** 20 }),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const childAt = args.indexOf("--child");
  if (childAt >= 0) return child(args[childAt + 1] as EngineName);
  const minAt = args.indexOf("--min-ms");
  const minMs = minAt >= 0 ? Number(args[minAt + 1]) : 200;

  console.log(`node ${process.version}, ${minMs} ms per cell; µs per test() call, ratio to RegExp in ()\n`);
  const engines = await Promise.all(ENGINE_NAMES.map(loadEngine));
  const rows: string[][] = [["case", ...ENGINE_NAMES]];
  for (const c of cases()) {
    const row = [c.name];
    let base: number | undefined;
    let expected: boolean | undefined;
    for (const e of engines) {
      if (c.hostile && e.name === "RegExp") {
        row.push("(skipped: minutes)");
        continue;
      }
      const m = e.compile(c.re2, c.js);
      const got = m.test(c.body);
      if (expected === undefined) expected = got;
      else if (got !== expected) row[0] += `  [!] ${e.name} answers ${got}`;
      const us = timeIt(() => m.test(c.body), c.re2 === BACKTRACKING && e.name === "RegExp" ? minMs * 5 : minMs);
      base ??= e.name === "RegExp" ? us : undefined;
      row.push(base !== undefined && e.name !== "RegExp" ? `${fmt(us)} (${ratio(us / base)})` : fmt(us));
    }
    rows.push(row);
  }
  printTable(rows);

  console.log("\nworst cases found at the 500-instruction cap: µs of the first call after compiling / warm mean");
  const worst: string[][] = [["case", ...ENGINE_NAMES]];
  for (const c of worstCases()) {
    const row = [c.name];
    let base: number | undefined;
    for (const e of engines) {
      const m = e.compile(c.re2, c.js);
      const t0 = performance.now();
      m.test(c.body);
      const firstUs = (performance.now() - t0) * 1000;
      const us = timeIt(() => m.test(c.body), minMs);
      base ??= us;
      row.push(`${fmt(firstUs)} / ${fmt(us)}${e.name === "RegExp" ? "" : ` (${ratio(us / base)})`}`);
    }
    worst.push(row);
  }
  printTable(worst);

  console.log("\ncompile, µs per pattern (mean over the distinct patterns above)");
  const distinct = [...new Map(cases().map((c) => [c.re2, c])).values()];
  for (const e of engines) {
    const us = timeIt(() => {
      for (const c of distinct) e.compile(c.re2, new RegExp(c.js.source, c.js.flags));
    }, minMs);
    console.log(`  ${e.name.padEnd(9)} ${fmt(us / distinct.length)}`);
  }

  console.log("\nload (fresh process): import ms, first compile+run of every case ms, RSS added MB, install size");
  const self = fileURLToPath(import.meta.url);
  for (const name of ENGINE_NAMES) {
    const r = spawnSync(process.execPath, [self, "--child", name], { encoding: "utf8" });
    const s = JSON.parse(r.stdout) as { loadMs: number; firstRunMs: number; rssAddedMb: number };
    const size = name === "RegExp" ? 0 : dirBytes(packageRoot(name));
    console.log(
      `  ${name.padEnd(9)} ${s.loadMs.toFixed(1).padStart(6)}  ${s.firstRunMs.toFixed(1).padStart(6)}  ${s.rssAddedMb.toFixed(1).padStart(5)}  ${(size / 1024).toFixed(0)} KiB`,
    );
  }
}

await main();
