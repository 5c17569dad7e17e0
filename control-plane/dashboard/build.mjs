// Bundles the dashboard (preact + uPlot) with esbuild into control-plane/dist/dashboard/:
// index.html (no inline script or style, so a `default-src 'self'` CSP holds) and content-hashed
// assets under assets/, which the control plane serves at / (control-plane/src/api/dashboard-static.ts).
// Run by the root `pnpm build`; nothing is fetched at build or run time.
import { build } from "esbuild";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "dist", "dashboard");

await rm(out, { recursive: true, force: true });
await mkdir(join(out, "assets"), { recursive: true });
const result = await build({
  entryPoints: { app: join(here, "src", "main.tsx") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => f.endsWith(".js"));
const css = files.find((f) => f.endsWith(".css"));
if (!js || !css) throw new Error(`dashboard build: expected a .js and a .css output, got ${files.join(", ")}`);
await writeFile(
  join(out, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>probemesh</title>
<link rel="stylesheet" href="assets/${css}">
<script type="module" src="assets/${js}"></script>
</head>
<body>
<div id="app"><noscript>The probemesh dashboard needs JavaScript.</noscript></div>
</body>
</html>
`,
);
const sizes = Object.entries(result.metafile.outputs).map(
  ([f, o]) => `${basename(f)} ${(o.bytes / 1024).toFixed(1)} KiB`,
);
console.log(`dashboard: ${sizes.join(", ")}`);
