import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AgentDirectory } from "../agents/types.js";
import type { AgentHealth } from "../consensus/types.js";
import { errorResponses } from "./error-schema.js";
import { TOKEN_OPTIONAL } from "./openapi.js";

/** Options of {@link createAgentsRoutes}. */
export interface AgentsRoutesOptions {
  agents: AgentDirectory;
  /**
   * The consensus engine's view of an agent (impaired or not, and why), merged into the list.
   * @default no consensus information (no impaired fields)
   */
  agentHealth?: ((agentId: string) => AgentHealth | undefined) | undefined;
}

/** An agent as GET /v1/agents shows it. */
export const AgentSchema = z
  .object({
    id: z.string(),
    region: z.string(),
    provider: z.string(),
    version: z.string(),
    capabilities: z.array(z.string()).openapi({ description: "check types it has a prober for" }),
    assignmentVersion: z.int(),
    outboxDepth: z.int(),
    lastSeq: z.int(),
    schedulingLagP99Ms: z.number(),
    connected: z.boolean().openapi({ description: "has an open assignment stream and was seen within 15 s" }),
    lastSeenAt: z.int().openapi({ description: "epoch ms" }),
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

const listAgents = createRoute({
  operationId: "listAgents",
  method: "get",
  path: "/",
  tags: ["agents"],
  summary: "List agents",
  security: TOKEN_OPTIONAL,
  responses: {
    200: { description: "Every known agent", content: { "application/json": { schema: z.array(AgentSchema) } } },
    ...errorResponses(401, 503),
  },
});

/** GET /v1/agents (mounted at /v1/agents). */
export function createAgentsRoutes(opts: AgentsRoutesOptions): OpenAPIHono {
  const { agents } = opts;
  const app = new OpenAPIHono();
  app.openapi(listAgents, async (c) => {
    const list = await agents.list();
    const health = opts.agentHealth;
    if (!health) return c.json(list, 200);
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
      200,
    );
  });
  return app;
}
