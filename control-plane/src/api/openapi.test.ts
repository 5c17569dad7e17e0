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
import { createMemoryApiTokens, type ApiTokens, type Scope } from "../trust/api-tokens.js";
import { createMemoryEnrollments } from "../trust/enrollments.js";
import { createControlPlaneMetrics } from "../metrics/index.js";

const log = pino({ level: "silent" });
const root = fileURLToPath(new URL("../../../", import.meta.url));
// Route handlers never run in these tests: the hooks service is a stand-in.
const hooks = {} as HooksApiOptions["hooks"];

const BOOTSTRAP = "openapi-test-token";

/** The whole API, every optional part included. */
function fullApi(apiTokens: ApiTokens = createMemoryApiTokens()): Api {
  return createApi({
    config: { apiToken: BOOTSTRAP, publicStatus: true },
    enrollments: createMemoryEnrollments(),
    apiTokens,
    registry: createMemoryRegistry({ log }),
    store: { insertResults: async () => {}, queryResults: async () => [], ping: async () => true },
    agents: createMemoryAgentDirectory(),
    ready: async () => ({ nats: true, clickhouse: true, migrations: true }),
    log,
    hooks,
    maintenance: createMemoryMaintenanceRegistry(),
    metrics: createControlPlaneMetrics({ processMetrics: false }),
    statuses: async () => ({ statuses: new Map(), unavailablePartitions: [] }),
    // An event feed that has already ended: the walk's GET /v1/events closes at once.
    events: { subscribe: async () => ({ take: async () => [], close: () => {}, ended: "stopped", onEnd: () => {} }) },
    consensus: {
      engine: { status: () => undefined },
      outageStore: {
        listOutages: async () => [],
        resultCounts: async () => [],
        loadObservations: async () => ({ observations: [], truncated: false }),
        observedBuckets: async () => new Map(),
      },
      lookupCheck: async () => undefined,
      latencyBuckets: async () => [],
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
    expect(doc.paths?.["/v1/checks"]?.post?.security).toEqual([{ bearerAuth: ["write"] }]);
    expect(doc.paths?.["/v1/checks/{id}/replay"]?.post?.security).toEqual([{ bearerAuth: ["write"] }]);
    expect(doc.paths?.["/v1/checks"]?.get?.security).toEqual([{ bearerAuth: ["read"] }]);
    expect(doc.paths?.["/v1/hooks"]?.get?.security).toEqual([{ bearerAuth: ["admin"] }]);
    expect(doc.paths?.["/v1/agents"]?.get).toHaveProperty("x-probemesh-scope", "read");
    expect(doc.paths?.["/v1/agents"]?.post).toHaveProperty("x-probemesh-scope", "admin");
    expect(doc.paths?.["/v1/deliveries"]?.get).toHaveProperty("x-probemesh-scope", "read");
    expect(doc.paths?.["/healthz"]?.get?.security).toEqual([]);
    expect(doc.paths?.["/v1/public/status"]?.get?.security).toEqual([]);
    for (const name of ["Check", "Result", "Agent", "Status", "Outage", "Availability", "Replay", "Error", "ApiToken"])
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

/** Operations served without a token; every other one names its scope. */
const PUBLIC = ["GET /healthz", "GET /readyz", "GET /openapi.json", "GET /v1/public/status"];
/**
 * The policy: tokens and hooks need admin (they grant access and hold secrets), and so do agents'
 * writes (an agent's token grants a vote); the agent list, secret-free, is a read.
 */
const ADMIN_PREFIXES = ["/v1/tokens", "/v1/hooks"];
const ADMIN_WRITE_PREFIXES = ["/v1/agents"];

describe("scopes, walking every operation of /openapi.json", () => {
  it("every route refuses a missing token (401) and a token without its scope (403), and serves one with it", async () => {
    const stored = createMemoryApiTokens();
    const tokens: Record<Scope, string> = {
      read: (await stored.create({ name: "reader", scopes: ["read"] })).token,
      write: (await stored.create({ name: "writer", scopes: ["write"] })).token,
      admin: (await stored.create({ name: "admin", scopes: ["admin"] })).token,
    };
    // A valid token that grants nothing: what lacks "read". (The API creates none such, the walk needs one.)
    const NONE = "pmt_grants-nothing";
    const apiTokens: ApiTokens = {
      ...stored,
      authenticate: (t) =>
        t === NONE ? { id: "none", name: "none", scopes: [], createdAt: 0 } : stored.authenticate(t),
    };
    const app = fullApi(apiTokens);
    const doc = await documentOf(app);
    const weaker: Record<Scope, string> = { read: NONE, write: tokens.read, admin: tokens.write };
    const seenPublic: string[] = [];
    let walked = 0;
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      for (const method of ["get", "put", "post", "delete", "patch"] as const) {
        const op = item[method] as (Record<string, unknown> & { security?: unknown }) | undefined;
        if (!op) continue;
        const name = `${method.toUpperCase()} ${path}`;
        const url = path.replace(/\{[^}]+\}/g, "x1");
        const call = (token?: string) =>
          app.request(url, {
            method: method.toUpperCase(),
            headers: token ? { authorization: `Bearer ${token}` } : {},
            ...(method === "get" || method === "delete" ? {} : { body: "{}" }),
          });
        if (Array.isArray(op.security) && op.security.length === 0) {
          seenPublic.push(name);
          expect((await call()).status, name).not.toBe(401);
          continue;
        }
        const scope = op["x-probemesh-scope"] as Scope;
        const policy: Scope =
          ADMIN_PREFIXES.some((p) => path.startsWith(p)) ||
          (method !== "get" && ADMIN_WRITE_PREFIXES.some((p) => path.startsWith(p)))
            ? "admin"
            : method === "get"
              ? "read"
              : "write";
        expect(scope, name).toBe(policy);
        expect(op.security, name).toEqual([{ bearerAuth: [scope] }]);
        expect((await call()).status, `${name} without a token`).toBe(401);
        expect((await call("pmt_not-a-token")).status, `${name} with an unknown token`).toBe(401);
        const lacking = await call(weaker[scope]);
        expect(lacking.status, `${name} without "${scope}"`).toBe(403);
        expect(((await lacking.json()) as { error: { code: string } }).error.code).toBe("permission_denied");
        for (const token of [tokens[scope], BOOTSTRAP])
          expect([401, 403], `${name} with "${scope}"`).not.toContain((await call(token)).status);
        walked++;
      }
    }
    expect(seenPublic.sort()).toEqual([...PUBLIC].sort());
    expect(walked).toBeGreaterThan(25);
  });
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
