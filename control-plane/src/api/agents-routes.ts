import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Logger } from "pino";
import type { AgentDirectory, AgentView } from "../agents/types.js";
import { isSubjectToken } from "@probemesh/proto";
import type { AgentHealth } from "../consensus/types.js";
import { NotFoundError } from "../errors.js";
import { parseOrThrow } from "../schemas/issues.js";
import type { EnrolledAgent, Enrollments } from "../trust/enrollment.js";
import { errorResponses } from "./error-schema.js";
import { bodyReadByHandler, requires } from "./openapi.js";
import { readJson } from "./read-json.js";

/** Options of {@link createAgentsRoutes}. */
export interface AgentsRoutesOptions {
  /** Which agents may connect, and for which region. */
  enrollments: Enrollments;
  /** Presence: connected, last seen, version, capabilities, heartbeat stats. */
  agents: AgentDirectory;
  /**
   * The consensus engine's view of an agent (impaired or not, and why), merged into the list.
   * @default no consensus information (no impaired fields)
   */
  agentHealth?: ((agentId: string) => AgentHealth | undefined) | undefined;
  log: Logger;
}

const SUBJECT_TOKEN = "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'";
const subjectToken = (description: string, example: string) =>
  z
    .string()
    .refine(isSubjectToken, { error: SUBJECT_TOKEN })
    .openapi({ description, example, pattern: "^[A-Za-z0-9_-]{1,64}$" });

/** The body of POST /v1/agents. */
export const AgentEnrollBody = z
  .strictObject({
    id: subjectToken("the agent's PROBEMESH_AGENT_ID; never reused, even after revocation", "agent-eu-1"),
    region: subjectToken("the only region it may run checks and vote for (its PROBEMESH_REGION)", "eu-west"),
    provider: z
      .string()
      .regex(/^[\x20-\x7e]{0,64}$/, { error: "must be at most 64 printable ASCII characters" })
      .optional()
      .openapi({ description: 'where it runs (hosting provider), for people; @default ""', example: "hetzner" }),
  })
  .openapi("AgentEnrollment");

/** An agent as GET /v1/agents shows it: its enrollment merged with its presence. */
export const AgentSchema = z
  .object({
    id: z.string(),
    region: z.string().openapi({ description: "its enrolled region" }),
    provider: z.string(),
    enrolledAt: z.int().openapi({ description: "epoch ms" }),
    revokedAt: z.int().nullable().openapi({ description: "epoch ms; null while it may connect" }),
    version: z.string().openapi({ description: 'agent version it last announced; "" before it connected' }),
    capabilities: z.array(z.string()).openapi({ description: "check types it has a prober for" }),
    assignmentVersion: z.int(),
    outboxDepth: z.int(),
    lastSeq: z.int(),
    schedulingLagP99Ms: z.number(),
    connected: z.boolean().openapi({ description: "has an open assignment stream and was seen within 15 s" }),
    lastSeenAt: z.int().nullable().openapi({ description: "epoch ms; null when it was never seen" }),
    connectedAt: z.int().nullable().openapi({ description: "epoch ms; null when it never connected" }),
    impaired: z.boolean().optional().openapi({ description: "the consensus engine ignores its results" }),
    impairedReason: z.string().optional(),
    impairedSince: z.int().nullable().optional(),
  })
  .openapi("Agent", {
    example: {
      id: "agent-eu-1",
      region: "eu-west",
      provider: "hetzner",
      enrolledAt: 1767200000000,
      revokedAt: null,
      version: "0.1.0",
      capabilities: ["http", "tcp", "dns", "tls", "grpc", "icmp"],
      assignmentVersion: 12,
      outboxDepth: 0,
      lastSeq: 4711,
      schedulingLagP99Ms: 3,
      connected: true,
      lastSeenAt: 1767225600000,
      connectedAt: 1767220000000,
      impaired: false,
      impairedReason: "",
      impairedSince: null,
    },
  });

/** The answer of POST /v1/agents: the agent and its token, shown this once. */
const EnrolledAgentSchema = AgentSchema.extend({
  token: z.string().openapi({
    description: "the agent's PROBEMESH_AGENT_TOKEN; shown only in this answer (only a hash is stored)",
    example: "pma_3q2-7wXbV0cKzT5m9hN1uYpR8eLdA4sGfJkC6oQiWvE",
  }),
}).openapi("AgentEnrolled");

const IdParams = z.object({
  id: z
    .string()
    .refine(isSubjectToken, { error: SUBJECT_TOKEN })
    .openapi({ param: { name: "id", in: "path", description: "agent id" }, example: "agent-eu-1" }),
});

const tags = ["agents"];
const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const enrollAgent = createRoute({
  operationId: "enrollAgent",
  method: "post",
  path: "/",
  tags,
  summary: "Enroll an agent",
  description:
    "Returns the agent's token once. The agent runs with PROBEMESH_AGENT_ID, PROBEMESH_REGION and this PROBEMESH_AGENT_TOKEN; a claimed id or region that differs from the enrollment is refused.",
  ...requires("admin"),
  request: { body: bodyReadByHandler("AgentEnrollment", "The agent: id, region, provider") },
  responses: {
    201: json(EnrolledAgentSchema, "Enrolled; the token is in this answer only"),
    ...errorResponses(400, 401, 403, 409, 413, 503),
  },
});

const listAgents = createRoute({
  operationId: "listAgents",
  method: "get",
  path: "/",
  tags,
  summary: "List enrolled agents with their presence",
  ...requires("read"),
  responses: {
    200: json(z.array(AgentSchema), "Every enrolled agent (revoked ones included), sorted by id"),
    ...errorResponses(401, 403, 503),
  },
});

const getAgent = createRoute({
  operationId: "getAgent",
  method: "get",
  path: "/{id}",
  tags,
  summary: "Get an enrolled agent",
  ...requires("read"),
  request: { params: IdParams },
  responses: { 200: json(AgentSchema, "The agent"), ...errorResponses(400, 401, 403, 404, 503) },
});

const revokeAgent = createRoute({
  operationId: "revokeAgent",
  method: "delete",
  path: "/{id}",
  tags,
  summary: "Revoke an agent",
  description:
    "Permanent: its token stops working on every replica, its open assignment stream ends, its results no longer count. The id cannot be enrolled again.",
  ...requires("admin"),
  request: { params: IdParams },
  responses: { 204: { description: "Revoked" }, ...errorResponses(400, 401, 403, 404, 503) },
});

const absent: Omit<AgentView, "id" | "region" | "provider"> = {
  version: "",
  capabilities: [],
  assignmentVersion: 0,
  outboxDepth: 0,
  lastSeq: 0,
  schedulingLagP99Ms: 0,
  connected: false,
  lastSeenAt: 0,
  connectedAt: null,
};

/**
 * Agents, mounted at /v1/agents: POST / (enroll), GET /, GET|DELETE /{id}. Enrolling and revoking
 * need the admin scope (an agent's token grants a vote); the reads need only "read": their answer
 * carries no token, hash or credential (the vantage points are in every verdict anyway), and the
 * dashboard shows it to a read token.
 */
export function createAgentsRoutes(opts: AgentsRoutesOptions): OpenAPIHono {
  const { enrollments, agents } = opts;
  const log = opts.log.child({ component: "agents-api" });
  const app = new OpenAPIHono();
  app.openAPIRegistry.register("AgentEnrollment", AgentEnrollBody);

  function view(e: EnrolledAgent, presence: AgentView | undefined) {
    const p = presence ?? absent;
    const h = opts.agentHealth?.(e.id);
    return {
      ...p,
      id: e.id,
      region: e.region,
      provider: e.provider,
      enrolledAt: Date.parse(e.createdAt),
      revokedAt: e.revokedAt === undefined ? null : Date.parse(e.revokedAt),
      connected: e.revokedAt === undefined && p.connected,
      lastSeenAt: presence ? presence.lastSeenAt : null,
      ...(opts.agentHealth
        ? // An agent the engine has not judged yet (no results) is not impaired.
          { impaired: h?.impaired ?? false, impairedReason: h?.reason ?? "", impairedSince: h?.since || null }
        : {}),
    };
  }
  async function presenceOf(): Promise<Map<string, AgentView>> {
    return new Map((await agents.list()).map((a) => [a.id, a]));
  }

  app.openapi(enrollAgent, async (c) => {
    const body = parseOrThrow(AgentEnrollBody, await readJson(c), "agent");
    const { agent, token } = await enrollments.enroll({ ...body, provider: body.provider ?? "" });
    log.info({ agentId: agent.id, region: agent.region }, "agent enrolled through the API");
    c.header("Location", `/v1/agents/${agent.id}`);
    return c.json({ ...view(agent, undefined), token }, 201);
  });

  app.openapi(listAgents, async (c) => {
    const presence = await presenceOf();
    return c.json(
      enrollments.list().map((e) => view(e, presence.get(e.id))),
      200,
    );
  });

  app.openapi(getAgent, async (c) => {
    const { id } = c.req.valid("param");
    const e = enrollments.get(id);
    if (!e) throw new NotFoundError("agent", id);
    return c.json(view(e, (await presenceOf()).get(id)), 200);
  });

  app.openapi(revokeAgent, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await enrollments.revoke(id))) throw new NotFoundError("agent", id);
    log.info({ agentId: id }, "agent revoked through the API");
    return c.body(null, 204);
  });

  return app;
}
