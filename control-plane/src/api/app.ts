import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import type { AgentDirectory } from "../agents/types.js";
import type { AgentHealth } from "../consensus/types.js";
import { checkToJson, restoreMaskedSecrets } from "../checks/check-record.js";
import { checkId as checkIdRule } from "../checks/rules.js";
import { validateCheck } from "../checks/validate-check.js";
import { NotFoundError, ProbemeshError, UnavailableError, ValidationError } from "../errors.js";
import type { CheckRegistry } from "../registry/types.js";
import type { ResultStore } from "../store/types.js";
import { errorResponse } from "./error-response.js";
import { readJson } from "./read-json.js";
import { requestLog } from "./request-log.js";
import { requireToken } from "./require-token.js";
import { parseResultsQuery } from "./results-query.js";

/** What each dependency reports for GET /readyz. */
export interface Readiness {
  /** NATS connected and the check registry loaded. */
  nats: boolean;
  /** ClickHouse answers a ping. */
  clickhouse: boolean;
  /** Schema migrations have run. */
  migrations: boolean;
}

/** Options of {@link createApi}. */
export interface ApiOptions {
  /** Only the API token is read from the config. */
  config: { apiToken: string };
  registry: CheckRegistry;
  store: ResultStore;
  agents: AgentDirectory;
  /**
   * The consensus engine's view of an agent (impaired or not, and why), merged into GET /v1/agents.
   * @default no consensus information
   */
  agentHealth?: (agentId: string) => AgentHealth | undefined;
  /** Reports readiness for GET /readyz. */
  ready: () => Promise<Readiness>;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Largest accepted request body. @default 262144 (256 KiB) */
  maxBodyBytes?: number;
}

/** Counters of the API. */
export interface ApiStats {
  /** Requests rejected for a missing or wrong token. */
  unauthorized: number;
  /** Requests rejected as invalid (400). */
  invalid: number;
}

/** The HTTP API as a Hono app, plus its counters. Mount other sub-apps with `app.route()`. */
export type Api = Hono & { stats(): ApiStats };

/**
 * The control plane's HTTP API (JSON):
 * checks CRUD, results of a check, agents, /healthz and /readyz. Writes need the API token.
 */
export function createApi(opts: ApiOptions): Api {
  const { registry, store, agents } = opts;
  const log = opts.log.child({ component: "api" });
  const now = opts.now ?? Date.now;
  const maxBodyBytes = opts.maxBodyBytes ?? 256 * 1024;
  const counters: ApiStats = { unauthorized: 0, invalid: 0 };

  const app = new Hono();
  app.use("*", requestLog(log));
  app.onError((err, c) => {
    if (err instanceof ValidationError) counters.invalid++;
    return errorResponse(c, err, log);
  });
  app.notFound((c) =>
    errorResponse(c, new ProbemeshError("not_found", `no route for ${c.req.method} ${c.req.path}`), log),
  );

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const r = await opts.ready().catch((err: unknown) => {
      log.warn({ err }, "readiness probe failed");
      return { nats: false, clickhouse: false, migrations: false };
    });
    const ok = r.nats && r.clickhouse && r.migrations;
    const notReady = (Object.keys(r) as (keyof Readiness)[]).filter((k) => !r[k]);
    return c.json({ status: ok ? "ready" : "not_ready", ...r, notReady }, ok ? 200 : 503);
  });

  app.use(
    "/v1/*",
    requireToken(opts.config.apiToken, () => counters.unauthorized++),
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        errorResponse(
          c,
          new ProbemeshError("payload_too_large", `request body exceeds ${maxBodyBytes} bytes`, {
            limit: maxBodyBytes,
          }),
          log,
        ),
    }),
  );

  app.post("/v1/checks", async (c) => {
    const check = validateCheck(await readJson(c), { mode: "create" });
    const record = await registry.create(check);
    c.header("Location", `/v1/checks/${record.check.id}`);
    return c.json(checkToJson(record), 201);
  });

  app.get("/v1/checks", async (c) => {
    const records = await registry.list();
    return c.json(records.map(checkToJson));
  });

  app.get("/v1/checks/:id", async (c) => {
    const id = pathId(c.req.param("id"));
    const record = await registry.get(id);
    if (!record) throw new NotFoundError("check", id);
    return c.json(checkToJson(record));
  });

  app.put("/v1/checks/:id", async (c) => {
    const id = pathId(c.req.param("id"));
    const next = validateCheck(await readJson(c), { mode: "replace", id });
    const existing = await registry.get(id);
    if (!existing) throw new NotFoundError("check", id);
    const record = await registry.replace(restoreMaskedSecrets(next, existing.check));
    return c.json(checkToJson(record));
  });

  app.delete("/v1/checks/:id", async (c) => {
    const id = pathId(c.req.param("id"));
    await registry.delete(id);
    return c.body(null, 204);
  });

  app.get("/v1/checks/:id/results", async (c) => {
    const id = pathId(c.req.param("id"));
    const query = parseResultsQuery(new URL(c.req.url).searchParams, id, now());
    if (!(await registry.get(id))) throw new NotFoundError("check", id);
    try {
      return c.json(await store.queryResults(query));
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      // The cause (with ClickHouse's address and error) goes to the log, not to API clients.
      throw new UnavailableError("result store unavailable; try again later", { cause: err });
    }
  });

  app.get("/v1/agents", async (c) => {
    const list = await agents.list();
    const health = opts.agentHealth;
    if (!health) return c.json(list);
    return c.json(
      list.map((a) => {
        const h = health(a.id);
        // An agent the engine has not judged yet (no results) is not impaired.
        return {
          ...a,
          impaired: h?.impaired ?? false,
          impairedReason: h?.reason ?? "",
          impairedSince: h?.since || null,
        };
      }),
    );
  });

  return Object.assign(app, { stats: () => ({ ...counters }) });
}

function pathId(raw: string): string {
  const problem = checkIdRule(raw);
  if (problem)
    throw new ValidationError(`invalid check id: ${problem}`, {
      field: "id",
      problems: [{ field: "id", message: problem }],
    });
  return raw;
}
