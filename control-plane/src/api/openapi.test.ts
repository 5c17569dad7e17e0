import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createMemoryAgentDirectory } from "../agents/memory-agents.js";
import { createMemoryMaintenanceRegistry } from "../maintenance/registry.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import { createApi, type Api } from "./app.js";
import type { HooksApiOptions } from "./hooks-routes.js";
import type { OpenApiDocument } from "./openapi.js";

const log = pino({ level: "silent" });
const root = fileURLToPath(new URL("../../../", import.meta.url));
// Route handlers never run in these tests: the hooks service is a stand-in.
const hooks = {} as HooksApiOptions["hooks"];

/** The whole API, every optional part included. */
function fullApi(): Api {
  return createApi({
    config: { apiToken: "openapi-test-token" },
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    hooks,
    maintenance: createMemoryMaintenanceRegistry(),
    consensus: {
      engine: { status: () => undefined },
      outageStore: {
        listOutages: async () => [],
        resultCounts: async () => [],
        loadObservations: async () => ({ observations: [], truncated: false }),
        observedBuckets: async () => new Map(),
      },
      lookupCheck: async () => undefined,
      history: { identities: { list: async () => [] }, results: { queryResults: async () => [] } },
    },
  });
}

async function documentOf(app: Api): Promise<OpenApiDocument> {
  const res = await app.request("/openapi.json");
  expect(res.status).toBe(200);
  return (await res.json()) as OpenApiDocument;
}

/** "GET /v1/checks/{id}" for every operation of the document. */
function documentedOperations(doc: OpenApiDocument): Set<string> {
  const out = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of ["get", "put", "post", "delete", "patch", "head", "options"] as const) {
      if (item[method]) out.add(`${method.toUpperCase()} ${path}`);
    }
  }
  return out;
}

/** "GET /v1/checks/{id}" for every route registered on the app (middleware excluded). */
function registeredRoutes(app: Api): Set<string> {
  return new Set(
    app.routes
      .filter((r) => r.method !== "ALL" && !r.path.endsWith("*"))
      .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`),
  );
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document, served without a token, with the bearer scheme on the routes that need it", async () => {
    const doc = await documentOf(fullApi());
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components?.securitySchemes?.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths?.["/v1/checks"]?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths?.["/v1/checks/{id}/replay"]?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths?.["/v1/checks"]?.get?.security).toEqual([{}, { bearerAuth: [] }]);
    expect(doc.paths?.["/healthz"]?.get?.security).toEqual([]);
    for (const name of ["Check", "Result", "Agent", "Status", "Outage", "Availability", "Replay", "Error"])
      expect(doc.components?.schemas, name).toHaveProperty(name);
  });

  it("documents every route the app serves, and nothing else", async () => {
    const app = fullApi();
    const documented = documentedOperations(await documentOf(app));
    const registered = registeredRoutes(app);
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !registered.has(r))).toEqual([]);
    expect(registered.size).toBeGreaterThan(10);
  });

  it("passes `redocly lint` (recommended rules) without errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "probemesh-openapi-"));
    try {
      const file = join(dir, "openapi.json");
      await writeFile(file, JSON.stringify(await documentOf(fullApi()), null, 2));
      // Rules that cannot fit: there is no license to name yet, and /healthz, /readyz and
      // /openapi.json have no 4xx to document.
      await writeFile(
        join(dir, "redocly.yaml"),
        ["extends:", "  - recommended", "rules:", "  info-license: off", "  operation-4xx-response: off", ""].join(
          "\n",
        ),
      );
      const run = promisify(execFile);
      const result = await run("pnpm", ["exec", "redocly", "lint", file, "--config", join(dir, "redocly.yaml")], {
        cwd: root,
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", CI: "true" },
      }).catch((err: { stdout?: string; stderr?: string }) => {
        throw new Error(`redocly lint failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
      });
      expect(`${result.stdout}${result.stderr}`).toMatch(/valid/i);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** "GET /v1/checks/{id}" for every `METHOD /path` in the first column of a README's HTTP API tables. */
function readmeRoutes(markdown: string): Set<string> {
  const section = /^## HTTP API\n([\s\S]*?)(?=^## )/m.exec(markdown)?.[1] ?? "";
  const out = new Set<string>();
  for (const line of section.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const cell = (line.split(/(?<!\\)\|/)[1] ?? "").replace(/`/g, "").replace(/\\\|/g, "|");
    for (const m of cell.matchAll(
      /((?:GET|POST|PUT|PATCH|DELETE)(?:\s*[/|]\s*(?:GET|POST|PUT|PATCH|DELETE))*)\s+(\/[^\s?,]*)/g,
    )) {
      const path = (m[2] ?? "").replace(/:([A-Za-z0-9_]+)/g, "{$1}");
      for (const method of (m[1] ?? "").split(/\s*[/|]\s*/)) out.add(`${method} ${path}`);
    }
  }
  return out;
}

describe.each(["README.md", "control-plane/README.md"])("the HTTP API table of %s", (readme) => {
  it("lists every documented route, and only routes the app serves", async () => {
    const app = fullApi();
    const listed = readmeRoutes(await readFile(join(root, readme), "utf8"));
    const documented = documentedOperations(await documentOf(app));
    expect([...documented].filter((r) => !listed.has(r))).toEqual([]);
    expect([...listed].filter((r) => !documented.has(r))).toEqual([]);
    expect(listed.has("GET /openapi.json")).toBe(true);
  });
});
