import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import type { AgentDirectory } from "../agents/types.js";
import type { AgentHealth } from "../consensus/types.js";
import { ForbiddenError, ProbemeshError, ValidationError } from "../errors.js";
import type { CheckRegistry } from "../registry/types.js";
import type { ResultStore } from "../store/types.js";
import { createAgentsRoutes } from "./agents-routes.js";
import type { ApiTokens } from "../trust/api-tokens.js";
import type { Enrollments } from "../trust/enrollment.js";
import { bearerAuth, tokenAuthenticator } from "./bearer-auth.js";
import { createChecksRoutes } from "./checks-routes.js";
import { createConsensusRoutes, type ConsensusRoutesOptions } from "./consensus-routes.js";
import { dashboardStatic } from "./dashboard-static.js";
import { errorResponse } from "./error-response.js";
import { createDeliveriesRoutes } from "./deliveries-routes.js";
import { createHooksApi, type HooksApiOptions } from "./hooks-routes.js";
import { createHealthRoutes, type Readiness } from "./health-routes.js";
import type { MaintenanceRegistry } from "../maintenance/registry.js";
import { createMaintenanceRoutes } from "./maintenance-routes.js";
import { createMetricsRoutes, requestMetrics, type MetricsSource, type RequestObserver } from "../metrics/index.js";
import { documenting, NO_TOKEN, openApiDocument } from "./openapi.js";
import { createPublicRoutes } from "./public-routes.js";
import { createStatusRoutes, type StatusRoutesOptions } from "./status-routes.js";
import { createEventsRoutes, type EventsRoutesOptions } from "./events-routes.js";
import { createTokensRoutes } from "./tokens-routes.js";
import { requestLog } from "./request-log.js";
import { validationHook } from "./validation-hook.js";

export type { Readiness } from "./health-routes.js";

/** Options of {@link createApi}. */
export interface ApiOptions {
  /**
   * `apiToken`: PROBEMESH_API_TOKEN, the bootstrap admin token. `publicStatus`:
   * PROBEMESH_PUBLIC_STATUS, serve GET /v1/public/status without a token (@default false).
   */
  config: { apiToken: string; publicStatus?: boolean };
  registry: CheckRegistry;
  store: ResultStore;
  /** Agent presence (connected, last seen, stats). */
  agents: AgentDirectory;
  /** Which agents are enrolled (/v1/agents). */
  enrollments: Enrollments;
  /** Scoped API tokens (/v1/tokens), accepted besides the bootstrap token. */
  apiTokens: ApiTokens;
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
  /**
   * The consensus routes (status, outages, availability, replay).
   * @default not served
   */
  consensus?: Omit<ConsensusRoutesOptions, "log" | "now">;
  /**
   * The hooks routes (/v1/hooks...).
   * @default not served
   */
  hooks?: HooksApiOptions["hooks"];
  /**
   * The maintenance windows (/v1/maintenance...); also shown in a check's status and availability.
   * @default not served
   */
  maintenance?: MaintenanceRegistry;
  /** The built dashboard served at / (no token; its data calls carry one). @default control-plane/dist/dashboard */
  dashboardDir?: string;
  /**
   * GET /metrics (read scope) serves this exposition, and every request is counted by route.
   * @default not served, not counted
   */
  metrics?: MetricsSource & RequestObserver;
  /**
   * Every check's status at once (GET /v1/status): one request per partition to its owner.
   * @default not served
   */
  statuses?: StatusRoutesOptions["statuses"];
  /**
   * Live events (GET /v1/events, Server-Sent Events; the only route taking `?token=`).
   * @default not served
   */
  events?: EventsRoutesOptions["hub"];
}

/** Counters of the API. */
export interface ApiStats {
  /** Requests rejected for a missing or wrong token (401). */
  unauthorized: number;
  /** Requests rejected for a token without the route's scope (403). */
  forbidden: number;
  /** Requests rejected as invalid (400). */
  invalid: number;
}

/** The HTTP API as an OpenAPIHono app, plus its counters. */
export type Api = OpenAPIHono & { stats(): ApiStats };

const openApiRoute = createRoute({
  operationId: "getOpenApiDocument",
  method: "get",
  path: "/openapi.json",
  tags: ["health"],
  summary: "This OpenAPI 3.1 document",
  security: NO_TOKEN,
  responses: {
    200: {
      description: "The document",
      content: {
        "application/json": {
          schema: documenting<ReturnType<typeof openApiDocument>>(
            z.record(z.string(), z.unknown()).openapi("OpenApiDocument"),
          ),
        },
      },
    },
  },
});

/**
 * The control plane's HTTP API (JSON), composed in one place: the guard stack (request log, one
 * root `onError`, the bearer token, one body limit) and the URL tree below.
 */
export function createApi(opts: ApiOptions): Api {
  const log = opts.log.child({ component: "api" });
  const now = opts.now ?? Date.now;
  const maxBodyBytes = opts.maxBodyBytes ?? 256 * 1024;
  const counters: ApiStats = { unauthorized: 0, forbidden: 0, invalid: 0 };
  const countRejected = () => void counters.unauthorized++;

  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.use("*", requestLog(log));
  if (opts.metrics) app.use("*", requestMetrics(opts.metrics));
  // The one place errors become responses; sub-apps have no onError of their own.
  app.onError((err, c) => {
    if (err instanceof ValidationError) counters.invalid++;
    if (err instanceof ForbiddenError) counters.forbidden++;
    return errorResponse(c, err, log);
  });
  app.notFound((c) =>
    errorResponse(c, new ProbemeshError("not_found", `no route for ${c.req.method} ${c.req.path}`), log),
  );

  // /v1 guards: every route needs a token (the bootstrap one or an API token) except the public
  // status; each route then requires its scope (`requires(...)` in its definition); one body limit.
  const v1 = new OpenAPIHono({ defaultHook: validationHook });
  const authenticate = tokenAuthenticator(opts.config.apiToken, (t) => opts.apiTokens.authenticate(t));
  v1.use(
    "*",
    bearerAuth({
      authenticate,
      anonymous: (c) => c.req.path.startsWith("/v1/public/"),
      queryToken: (c) => c.req.path === "/v1/events",
      onReject: countRejected,
    }),
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new ProbemeshError("payload_too_large", `request body exceeds ${maxBodyBytes} bytes`, {
          limit: maxBodyBytes,
        });
      },
    }),
  );

  // The URL tree; /openapi.json documents every operation.
  const maintenance = opts.maintenance;
  const consensus =
    opts.consensus &&
    createConsensusRoutes({
      ...opts.consensus,
      ...(maintenance ? { maintenanceWindows: () => maintenance.current() } : {}),
      log: opts.log,
      now,
    });
  // /v1/checks, /v1/checks/{id}, /v1/checks/{id}/results
  v1.route(
    "/checks",
    createChecksRoutes({ registry: opts.registry, store: opts.store, agents: opts.agents, log, now }),
  );
  if (consensus) {
    // /v1/checks/{id}/status, /v1/checks/{id}/availability, /v1/checks/{id}/replay
    v1.route("/checks", consensus.checks);
    v1.route("/outages", consensus.outages);
  }
  // /v1/status (every check's verdict)
  if (opts.statuses)
    v1.route(
      "/status",
      createStatusRoutes({
        registry: opts.registry,
        statuses: opts.statuses,
        ...(maintenance ? { maintenanceWindows: () => maintenance.current() } : {}),
        now,
      }),
    );
  // /v1/events (Server-Sent Events)
  if (opts.events) v1.route("/events", createEventsRoutes({ hub: opts.events, log: opts.log }));
  // /v1/agents, /v1/agents/{id} (reads: read; enroll, revoke: admin)
  v1.route(
    "/agents",
    createAgentsRoutes({
      enrollments: opts.enrollments,
      agents: opts.agents,
      agentHealth: opts.agentHealth,
      log: opts.log,
    }),
  );
  // /v1/tokens, /v1/tokens/{id} (admin)
  v1.route("/tokens", createTokensRoutes({ tokens: opts.apiTokens, log: opts.log }));
  // /v1/public/status (no token; 404 unless PROBEMESH_PUBLIC_STATUS=true)
  const engine = opts.consensus?.engine;
  const status = opts.consensus?.status;
  v1.route(
    "/public",
    createPublicRoutes({
      enabled: opts.config.publicStatus ?? false,
      registry: opts.registry,
      state: status ? async (id) => (await status(id))?.state : engine && ((id) => engine.status(id)?.state),
    }),
  );
  // /v1/hooks, /v1/hooks/{id}, /v1/hooks/{id}/deliveries, /v1/hooks/{id}/test (admin, reads included)
  if (opts.hooks) v1.route("/hooks", createHooksApi({ hooks: opts.hooks, log: opts.log, maxBodyBytes }));
  // /v1/deliveries (read: every hook's delivery log, without URLs, secrets or error texts)
  if (opts.hooks) v1.route("/deliveries", createDeliveriesRoutes({ hooks: opts.hooks }));
  // /v1/maintenance, /v1/maintenance/{id}
  if (maintenance) v1.route("/maintenance", createMaintenanceRoutes({ maintenance, log: opts.log }));
  // / and /assets/*: the dashboard (static, no token)
  const dashboard = dashboardStatic(opts.dashboardDir ? { dir: opts.dashboardDir } : {});
  app.use("/", dashboard);
  app.use("/assets/*", dashboard);
  // /healthz, /readyz
  app.route("/", createHealthRoutes({ ready: opts.ready, log }));
  // /metrics (read scope; also on PROBEMESH_METRICS_ADDR without a token)
  if (opts.metrics)
    app.route(
      "/",
      createMetricsRoutes({ metrics: opts.metrics, auth: bearerAuth({ authenticate, onReject: countRejected }) }),
    );
  app.route("/v1", v1);

  let document: ReturnType<typeof openApiDocument> | undefined;
  app.openapi(openApiRoute, (c) => c.json((document ??= openApiDocument(app)), 200));

  return Object.assign(app, { stats: () => ({ ...counters }) });
}
