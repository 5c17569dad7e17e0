/**
 * Benchmark (not a test): the resident memory an idle `node` has after only loading the libraries
 * the agent is built on, each alone and all together, nothing running. It bounds from below what
 * the agent's RSS can be on this stack.
 *
 *   node agent/dist/bench/library-rss.js
 *
 * Each set is loaded in a fresh child process with the agent's own V8 heap flags (and
 * `--expose-gc`), which then collects garbage and reports its /proc figures.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LEAN_HEAP_FLAGS } from "../lean-heap.js";
import { rssSample } from "./proc-stats.js";

const SETS: Record<string, string[]> = {
  nothing: [],
  "@grpc/grpc-js": ["@grpc/grpc-js"],
  "@nats-io/jetstream + transport-node": ["@nats-io/jetstream", "@nats-io/transport-node"],
  "@bufbuild/protobuf + @probemesh/proto": ["@bufbuild/protobuf", "@probemesh/proto"],
  pino: ["pino"],
  "all of them": [
    "@grpc/grpc-js",
    "@nats-io/jetstream",
    "@nats-io/transport-node",
    "@bufbuild/protobuf",
    "@probemesh/proto",
    "pino",
  ],
};

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

async function child(modules: string[]): Promise<void> {
  for (const m of modules) await import(m);
  await new Promise((r) => setTimeout(r, 300));
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const s = rssSample(process.pid);
  process.stdout.write(
    JSON.stringify({ rss: s.rss, anon: s.anon, file: s.file, heapUsed: process.memoryUsage().heapUsed }),
  );
}

if (process.argv[2] === "--child") {
  await child(process.argv.slice(3));
} else {
  const self = fileURLToPath(import.meta.url);
  for (const [name, modules] of Object.entries(SETS)) {
    const r = spawnSync(
      process.execPath,
      ["--expose-gc", ...Object.values(LEAN_HEAP_FLAGS), self, "--child", ...modules],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (r.status !== 0) {
      process.stderr.write(`${name}: child failed: ${r.stderr}\n`);
      process.exitCode = 1;
      continue;
    }
    const v = JSON.parse(r.stdout) as { rss: number; anon: number; file: number; heapUsed: number };
    process.stdout.write(
      `${name.padEnd(40)} RSS ${mb(v.rss).padStart(5)} MB (anon ${mb(v.anon)}, file ${mb(v.file)}), JS heap used ${mb(v.heapUsed)} MB\n`,
    );
  }
}
