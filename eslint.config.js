// Lint for the whole workspace (STYLE.md point 8): ESLint and typescript-eslint recommended sets,
// plus the two promise rules that matter most in a codebase that is all promises.
// Type-aware rules read ONE program (tsconfig.typecheck.json) so a run builds types once.
//
// It also holds the boundaries ("Boundaries you can run", STYLE.md), each a lint error:
//   1. agent and control plane never import each other (they share only @probemesh/proto);
//   2. the consensus engine's pure core imports nothing that does I/O;
//   3. packages are used only through their public entry points (test/ imports `@probemesh/*`,
//      never `../control-plane/src/...`), and package sources never import test/;
//   4. no import cycles.
// Path rules (import-x/no-restricted-paths) see resolved files, so `../../x/../y` cannot dodge them;
// name rules (no-restricted-imports) catch package names and Node builtins.
import js from "@eslint/js";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import { importX } from "eslint-plugin-import-x";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

/** Node globals for the few plain .js/.mjs files, which have no type information. */
const nodeGlobals = {
  process: "readonly",
  console: "readonly",
  setTimeout: "readonly",
  clearTimeout: "readonly",
  setInterval: "readonly",
  clearInterval: "readonly",
  URL: "readonly",
  Buffer: "readonly",
};

/**
 * The consensus engine's pure core: decisions from observations, no I/O. Listed one by one so a
 * new file is outside the core until someone decides it belongs. Not in it: service.ts (reads the
 * registry and the outage store), degraded-announcements.ts (NATS KV), bench.ts (a program),
 * index.ts (re-exports the service).
 */
const CONSENSUS_CORE = [
  "availability",
  "engine",
  "impairment",
  "observation",
  "policy",
  "quorum",
  "replay",
  "simulation",
  "types",
].map((name) => `control-plane/src/consensus/${name}.ts`);

const CONSENSUS_IO =
  "The consensus core does no I/O: take observations in, return transitions; service.ts does the I/O.";
const TEST_ENTRY_POINTS =
  "test/ uses packages through their public entry points (`@probemesh/agent`, `@probemesh/control-plane`, `@probemesh/proto`); export what it needs there.";

/** Package names the agent must not import, and the control plane must not import. */
const AGENT_NAMES = {
  regex: "^@probemesh/agent(/|$)",
  message: "The control plane never imports agent code; share through @probemesh/proto.",
};
const CONTROL_PLANE_NAMES = {
  regex: "^@probemesh/control-plane(/|$)",
  message: "The agent never imports control-plane code; share through @probemesh/proto.",
};
/** Deep imports into a package (`@probemesh/agent/src/x.js`, `../agent/dist/x.js`): only entry points are public. */
const DEEP_PACKAGE_IMPORTS = {
  regex: "^@probemesh/[^/]+/(src|dist)(/|$)",
  message: "Import a package through its public entry point (`@probemesh/<name>` or a declared subpath export).",
};

/** What the pure consensus core may not import: I/O clients, Node I/O builtins, the I/O-doing modules. */
const CONSENSUS_IO_NAMES = [
  {
    regex: "^(@nats-io/|@clickhouse/|@grpc/|@hono/|hono$|hono/|undici$)",
    message: CONSENSUS_IO,
  },
  {
    regex:
      "^(node:)?(net|dgram|http|https|http2|tls|dns|dns/promises|fs|fs/promises|child_process|cluster|worker_threads|readline)$",
    message: CONSENSUS_IO,
  },
  {
    regex: "^pino$",
    allowTypeImports: true,
    message: "The consensus core does not log; its caller logs the transitions it returns.",
  },
];

const CONSENSUS_CORE_PATHS = CONSENSUS_CORE.map((f) => `./${f}`);

export default defineConfig(
  {
    // Generated code is excluded from lint (STYLE.md point 11); .mesh/ holds local run state.
    ignores: ["**/dist/**", "**/node_modules/**", "**/coverage/**", "proto/src/gen/**", ".mesh/**"],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: {
        project: ["./tsconfig.typecheck.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      // `const { secret: _s, ...rest } = x` is how this codebase drops a field from a copy.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    languageOptions: { globals: nodeGlobals },
  },
  {
    // The dashboard runs in the browser: its own program (DOM types, preact JSX).
    files: ["control-plane/dashboard/src/**/*.{ts,tsx}"],
    languageOptions: {
      parserOptions: { project: ["./control-plane/dashboard/tsconfig.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
    },
  },

  // ---- Boundaries -------------------------------------------------------------------------------
  {
    files: ["**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      // Without these, import-x reads only .js files and no-cycle never follows a .ts import.
      "import-x/extensions": [".ts", ".js", ".mjs", ".cjs"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [
        createTypeScriptImportResolver({ project: "./tsconfig.typecheck.json", alwaysTryTypes: false }),
      ],
    },
    rules: {
      // 4. Type-only imports do not count (they vanish at run time).
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      // 1-3 by resolved path. `from` paths are relative to the repository root.
      "import-x/no-restricted-paths": [
        "error",
        {
          basePath: import.meta.dirname,
          zones: [
            ...["./agent/src", "./control-plane/src", "./proto/src"].map((target) => ({
              target,
              from: "./test",
              message: "Package sources never import test/: a helper both need belongs in the package.",
            })),
            {
              target: "./agent/src",
              from: "./control-plane",
              message: "The agent never imports control-plane code; share through @probemesh/proto.",
            },
            {
              target: "./control-plane/src",
              from: "./agent",
              message: "The control plane never imports agent code; share through @probemesh/proto.",
            },
            {
              target: ["./agent/src", "./control-plane/src"],
              from: "./proto/src",
              message: "Import proto through its entry point, `@probemesh/proto`.",
            },
            {
              target: "./proto/src",
              from: ["./agent", "./control-plane"],
              message: "proto depends on nothing else in this workspace.",
            },
            {
              target: "./test",
              from: ["./agent/src", "./control-plane/src", "./proto/src"],
              message: TEST_ENTRY_POINTS,
            },
            // The row shape is a plain type (observation.ts converts it at the boundary); the rest of store/ is I/O.
            {
              target: CONSENSUS_CORE_PATHS,
              from: "./control-plane/src/store",
              except: ["./types.ts"],
              message: CONSENSUS_IO,
            },
            {
              target: CONSENSUS_CORE_PATHS,
              from: [
                "./control-plane/src/ingest",
                "./control-plane/src/registry",
                "./control-plane/src/agents",
                "./control-plane/src/hooks",
                "./control-plane/src/maintenance/registry.ts",
                "./control-plane/src/api",
                "./control-plane/src/grpc",
                "./control-plane/src/main.ts",
                "./control-plane/src/index.ts",
                "./control-plane/src/config.ts",
                "./control-plane/src/shutdown-signals.ts",
                "./control-plane/src/consensus/service.ts",
                "./control-plane/src/consensus/degraded-announcements.ts",
                "./control-plane/src/consensus/bench.ts",
                "./control-plane/src/consensus/index.ts",
              ],
              message: CONSENSUS_IO,
            },
          ],
        },
      ],
    },
  },
  // 1-3 by name. Each `files` block sets the whole no-restricted-imports option (ESLint does not
  // merge them), so every block lists all the patterns that apply to its files.
  {
    files: ["agent/src/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [CONTROL_PLANE_NAMES, DEEP_PACKAGE_IMPORTS] }] },
  },
  {
    files: ["control-plane/src/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [AGENT_NAMES, DEEP_PACKAGE_IMPORTS] }] },
  },
  {
    files: ["proto/src/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [AGENT_NAMES, CONTROL_PLANE_NAMES, DEEP_PACKAGE_IMPORTS] }],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            DEEP_PACKAGE_IMPORTS,
            {
              // src/ is covered by path (import-x/no-restricted-paths); built output by name here. The
              // harness spawning dist/main.js as a program is not an import.
              regex: "^(\\.\\./)+(agent|control-plane|proto)/dist(/|$)",
              message: TEST_ENTRY_POINTS,
            },
          ],
        },
      ],
    },
  },
  {
    files: CONSENSUS_CORE,
    rules: {
      "no-restricted-imports": ["error", { patterns: [AGENT_NAMES, DEEP_PACKAGE_IMPORTS, ...CONSENSUS_IO_NAMES] }],
      "no-restricted-globals": [
        "error",
        ...["fetch", "WebSocket", "XMLHttpRequest", "EventSource"].map((name) => ({
          name,
          message: "The consensus core does no I/O; service.ts does.",
        })),
        { name: "process", message: "The consensus core reads no environment; options are passed in." },
      ],
      "no-restricted-properties": [
        "error",
        { object: "globalThis", property: "fetch", message: "The consensus core does no I/O; service.ts does." },
        { object: "globalThis", property: "process", message: "The consensus core reads no environment." },
      ],
    },
  },
);
