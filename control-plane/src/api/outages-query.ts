import { z } from "@hono/zod-openapi";
import { evenWithFieldProblems } from "../schemas/fields.js";
import { CHECK_ID_PATTERN } from "../checks/rules.js";
import type { IncidentKind, Outage } from "../consensus/types.js";
import { epochParam, integerParam, stringParam, strictQuery } from "./query-params.js";
import { fromBeforeTo } from "./results-query.js";

const KINDS: readonly IncidentKind[] = ["outage", "partial", "region"];
const KIND_MESSAGE = "must be outage, partial, region or a comma-separated list of them";

const OUTAGE_STATES = ["open", "resolved", "abandoned"] as const;

/** `?checkId=&from=&to=&state=&kind=&limit=` of GET /v1/outages, strictly; every problem listed at once. */
export const OutagesQuery = strictQuery({
  checkId: stringParam("must be a check id", (v) => CHECK_ID_PATTERN.test(v)).openapi({ example: "web" }),
  from: epochParam().openapi({ description: "epoch ms: incidents still open or resolved at or after it" }),
  to: epochParam().openapi({ description: "epoch ms: incidents started before it" }),
  state: stringParam("must be open, resolved or abandoned", (v) => (OUTAGE_STATES as readonly string[]).includes(v))
    .transform((v) => v as Outage["state"] | undefined)
    .openapi({
      enum: [...OUTAGE_STATES],
      description: "abandoned: closed because the check was deleted or what it probes changed, not a recovery",
    }),
  kind: stringParam(KIND_MESSAGE, (v) => v.split(",").every((k) => KINDS.some((x) => x === k)))
    .transform((v): IncidentKind[] =>
      v === undefined ? ["outage", "partial"] : ([...new Set(v.split(","))] as IncidentKind[]),
    )
    .openapi({ description: "comma-separated: outage, partial, region", default: "outage,partial", example: "outage" }),
  limit: integerParam(1, 10_000, 1000),
})
  .superRefine(fromBeforeTo, evenWithFieldProblems)
  .openapi("OutagesQuery");

/** A parsed {@link OutagesQuery}. */
export type OutagesQueryOutput = z.output<typeof OutagesQuery>;
