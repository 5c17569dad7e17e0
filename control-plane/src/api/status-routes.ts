import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { CheckRecord } from "../checks/check-record.js";
import type { AllStatuses } from "../cluster/status-forwarding.js";
import type { CheckStatus } from "../consensus/types.js";
import { checkMatches, filterFromQuery, filterQueryShape, stateMatches, trimRegions } from "../events/filter.js";
import { inMaintenanceOccurrence } from "../maintenance/in-maintenance.js";
import type { MaintenanceWindow } from "../maintenance/types.js";
import type { CheckRegistry } from "../registry/types.js";
import { emptyStatus, statusJson } from "./consensus-routes.js";
import { StatusSchema } from "./consensus-schemas.js";
import { errorResponses } from "./error-schema.js";
import { documenting, requires } from "./openapi.js";
import { strictQuery } from "./query-params.js";

/** Options of {@link createStatusRoutes}. */
export interface StatusRoutesOptions {
  registry: Pick<CheckRegistry, "list">;
  /** The statuses of many checks wherever they are decided (`allStatuses`): one request per partition. */
  statuses: (checkIds: readonly string[]) => Promise<AllStatuses>;
  /** Maintenance windows now known, shown in each status. @default none */
  maintenanceWindows?: () => readonly MaintenanceWindow[];
  /** @default Date.now */
  now?: () => number;
}

/** `?state=&label=&region=` of GET /v1/status. */
export const StatusListQuery = strictQuery(filterQueryShape).openapi("StatusListQuery");

/** Reason of a check whose partition's owner did not answer. */
export const OWNER_UNAVAILABLE = "owner unavailable";
/** Reason of a check whose status is larger than NATS max_payload (its owner cannot send it; counted there). */
export const STATUS_TOO_LARGE = "status larger than NATS max_payload";

const StatusListSchema = z
  .object({
    generatedAt: z.int().openapi({ description: "epoch ms" }),
    checks: z
      .array(
        StatusSchema.extend({
          name: z.string().openapi({ description: "the check's name (its id when it has none)" }),
          labels: z.record(z.string(), z.string()),
          checkUid: z.string(),
        }),
      )
      .openapi({ description: "every matching check, by checkId" }),
    unavailablePartitions: z.array(z.int()).openapi({
      description: `partitions whose owner did not answer in time: their checks are "unknown" with reason "${OWNER_UNAVAILABLE}" (a check whose status alone exceeds NATS max_payload is "unknown" with reason "${STATUS_TOO_LARGE}")`,
    }),
  })
  .openapi("StatusList");

const listStatus = createRoute({
  operationId: "listStatus",
  method: "get",
  path: "/",
  tags: ["consensus"],
  summary: "Every check's verdict in one answer, across replicas",
  ...requires("read"),
  request: { query: StatusListQuery },
  responses: {
    200: {
      description: "Every check the registry knows that matches the filters",
      content: { "application/json": { schema: documenting<unknown>(StatusListSchema) } },
    },
    ...errorResponses(400, 401, 403, 503),
  },
});

/** GET /v1/status (mounted at /v1/status). */
export function createStatusRoutes(opts: StatusRoutesOptions): OpenAPIHono {
  const now = opts.now ?? Date.now;
  const windows = opts.maintenanceWindows ?? (() => []);
  const app = new OpenAPIHono();
  app.openapi(listStatus, async (c) => {
    const filter = filterFromQuery(c.req.valid("query"));
    const records = (await opts.registry.list())
      .filter((r) => checkMatches(r.check, filter))
      .sort((a, b) => (a.check.id < b.check.id ? -1 : a.check.id > b.check.id ? 1 : 0));
    const { statuses, unavailablePartitions, oversized } = await opts.statuses(records.map((r) => r.check.id));
    const tooLarge = new Set(oversized);
    const t = now();
    const checks = [];
    for (const record of records) {
      const { check } = record;
      const known = statuses.has(check.id);
      const s: CheckStatus = statuses.get(check.id) ?? emptyStatus({ checkId: check.id, regions: check.regions });
      const status = known ? s : { ...s, reason: tooLarge.has(check.id) ? STATUS_TOO_LARGE : OWNER_UNAVAILABLE };
      if (!stateMatches(status.state, filter)) continue;
      const json = statusJson({ ...status, regions: trimRegions(status.regions, filter) });
      const o = inMaintenanceOccurrence(windows(), { id: check.id, labels: check.labels }, t);
      checks.push({
        ...json,
        ...(o ? { maintenance: { id: o.window.id, from: o.from, to: o.to } } : {}),
        name: nameOf(record),
        labels: { ...check.labels },
        checkUid: check.uid,
      });
    }
    return c.json({ generatedAt: t, checks, unavailablePartitions }, 200);
  });
  return app;
}

/** The check's name; checks without one (older than names) show their id. */
function nameOf(record: CheckRecord): string {
  const name = (record.check as { name?: unknown }).name;
  return typeof name === "string" && name !== "" ? name : record.check.id;
}
