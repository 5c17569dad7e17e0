import { z } from "@hono/zod-openapi";
import { HOOK_EVENT_TYPES, HOOK_TYPES } from "./types.js";
import { MASK, SECRET_MASK, SWAP_RECORD_TYPES } from "./hook-schema.js";

// What the hooks API answers. Secrets appear only as their masks; the one exception, a secret the
// API generated, is in the 201 of the creation (`secret` is then the secret itself).

const masked = (mask: string) => z.string().openapi({ example: mask, description: `Always "${mask}".` });

const dnsSwap = {
  zone: z.string().openapi({ example: "example.test." }),
  name: z.string().openapi({ example: "www.example.test." }),
  recordType: z.enum(SWAP_RECORD_TYPES),
  ttl: z.number().int(),
  primary: z.array(z.string()).openapi({ example: ["10.0.0.1"] }),
  standby: z.array(z.string()).openapi({ example: ["10.0.0.2"] }),
  standbyCheckId: z.string().optional(),
  verifyServer: z.string().openapi({ example: "127.0.0.1:5300" }),
};

/** A hook as the API shows it. */
export const HookSchema = z
  .object({
    id: z.string().openapi({ example: "dns-failover" }),
    type: z.enum(HOOK_TYPES),
    url: z.string().optional().openapi({
      example: "https://ops.example.test/hooks",
      description:
        "Query values are masked (`?token=***`); a slack hook's whole URL is shown as `***`. Sent back masked, they keep their stored values.",
    }),
    secret: z
      .string()
      .optional()
      .openapi({
        example: SECRET_MASK,
        description: `"${SECRET_MASK}", except in the 201 of a creation that generated it.`,
      }),
    hasSecret: z.boolean().optional(),
    previousSecrets: z.array(masked(SECRET_MASK)).optional(),
    events: z.array(z.enum(HOOK_EVENT_TYPES)),
    checks: z.array(z.string()),
    selector: z.record(z.string(), z.string()),
    cooldownMs: z.number().int(),
    minHoldMs: z.number().int(),
    dryRun: z.boolean(),
    timeoutMs: z.number().int(),
    deadlineMs: z.number().int(),
    haproxy: z
      .object({ socket: z.string(), backend: z.string(), server: z.string() })
      .optional()
      .openapi("HaproxyOptions"),
    powerdns: z
      .object({ ...dnsSwap, apiKey: masked(MASK), serverId: z.string() })
      .optional()
      .openapi("PowerdnsOptions"),
    rfc2136: z
      .object({
        ...dnsSwap,
        server: z.string(),
        tsig: z.object({ name: z.string(), algorithm: z.literal("hmac-sha256"), secret: masked(MASK) }),
      })
      .optional()
      .openapi("Rfc2136Options"),
    pagerduty: z
      .object({
        routingKey: masked(MASK),
        severity: z.enum(["critical", "error", "warning", "info"]),
        source: z.string(),
      })
      .optional()
      .openapi("PagerdutyOptions"),
    alertmanager: z
      .object({ labels: z.record(z.string(), z.string()), receiver: z.string() })
      .optional()
      .openapi("AlertmanagerOptions"),
    createdAt: z.number().int().openapi({ description: "Epoch ms.", example: 1_700_000_000_000 }),
    updatedAt: z.number().int().openapi({ description: "Epoch ms.", example: 1_700_000_000_000 }),
    disabled: z.object({ at: z.number().int(), reason: z.string() }).nullable().openapi({
      description: "Set when the hook was disabled (e.g. its receiver answered 410 Gone); a PUT clears it.",
    }),
  })
  .openapi("Hook", {
    example: {
      id: "dns-failover",
      type: "webhook",
      url: "https://ops.example.test/hooks",
      secret: SECRET_MASK,
      hasSecret: true,
      previousSecrets: [],
      events: ["outage.opened", "outage.resolved"],
      checks: ["web"],
      cooldownMs: 0,
      minHoldMs: 0,
      dryRun: false,
      timeoutMs: 10_000,
      deadlineMs: 86_400_000,
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_000,
      disabled: null,
    },
  });

/** A hook as the API shows it. */
export type PublicHook = z.infer<typeof HookSchema>;

const OUTCOMES = [
  "delivered",
  "dry_run",
  "failed",
  "held",
  "refused",
  "superseded",
  "disabled",
  "gave_up",
  "skipped",
  "fenced",
  "duplicate",
] as const;

/** One line of a hook's delivery log. */
export const DeliverySchema = z
  .object({
    hookId: z.string(),
    eventId: z.string(),
    eventType: z.enum([...HOOK_EVENT_TYPES, "test"]),
    checkId: z.string(),
    deliveryId: z.string().openapi({ description: "The webhook-id every attempt of the delivery carries." }),
    attempt: z.number().int().openapi({ description: "1-based." }),
    outcome: z.enum(OUTCOMES),
    status: z.number().int().optional().openapi({ description: "HTTP status of the receiver, when there was one." }),
    latencyMs: z.number(),
    error: z.string().optional(),
    at: z.number().int().openapi({ description: "Epoch ms." }),
    result: z
      .object({
        ok: z.boolean(),
        action: z.string(),
        status: z.number().int().optional(),
        verified: z.boolean().optional(),
        observed: z.string().optional(),
        refused: z.string().optional(),
        disable: z.boolean().optional(),
        dryRun: z.boolean().optional(),
        error: z.string().optional(),
      })
      .optional()
      .openapi("ActionResult", { description: "The action and its read-back, when one ran." }),
    retryAt: z.number().int().optional().openapi({ description: "Epoch ms of the next attempt (failed, held)." }),
    fence: z.object({ partition: z.number().int(), epoch: z.number().int() }).optional().openapi({
      description:
        "The partition lease the event was decided under (`Probemesh-Fence`); `fenced`: a newer lease had begun before it was published.",
    }),
  })
  .openapi("Delivery", {
    example: {
      hookId: "dns-failover",
      eventId: "o1:outage.opened",
      eventType: "outage.opened",
      checkId: "web",
      deliveryId: "o1:outage.opened:dns-failover",
      attempt: 1,
      outcome: "delivered",
      status: 200,
      latencyMs: 12,
      at: 1_700_000_000_000,
    },
  });

/** The answer of POST /hooks/{id}/test: the test event was enqueued. */
export const TestEventResultSchema = z
  .object({
    eventId: z.string(),
    deliveryId: z.string(),
    status: z.literal("enqueued"),
  })
  .openapi("TestEventResult", {
    example: { eventId: "test-1700000000000", deliveryId: "test-1700000000000:dns-failover", status: "enqueued" },
  });
