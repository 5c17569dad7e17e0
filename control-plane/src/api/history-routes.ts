import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { NotFoundError, UnavailableError, ValidationError } from "../errors.js";
import { evenWithFieldProblems } from "../schemas/fields.js";
import { legacyUid } from "../registry/legacy-uid.js";
import type { CheckIdentity, CheckIdentityStore } from "../store/check-identities.js";
import type { OutageStore } from "../store/outages.js";
import { rowUidsOf } from "../store/row-uids.js";
import type { ResultStore } from "../store/types.js";
import { CheckIdParams } from "./check-id-param.js";
import { OutageSchema } from "./consensus-schemas.js";
import { errorResponses } from "./error-schema.js";
import { requires } from "./openapi.js";
import { epochParam, integerParam, stringParam, strictQuery } from "./query-params.js";
import {
  DEFAULT_RESULTS_LIMIT,
  DEFAULT_RESULTS_WINDOW_MS,
  fromBeforeTo,
  MAX_RESULTS_LIMIT,
  ResultSchema,
} from "./results-query.js";
import type { KnownCheck, OutageJson } from "./consensus-routes.js";

/** Options of {@link createHistoryRoutes}. */
export interface HistoryRoutesOptions {
  identities: Pick<CheckIdentityStore, "list">;
  results: Pick<ResultStore, "queryResults">;
  outageStore: Pick<OutageStore, "listOutages">;
  /** The live check of an id, or undefined. */
  lookupCheck: (checkId: string) => Promise<KnownCheck | undefined>;
  outageJson: (o: Parameters<OutageStore["saveOutages"]>[0][number]) => OutageJson;
  now: () => number;
}

const UID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const HistoryQuery = strictQuery({
  uid: stringParam("must be a check uid (A-Z a-z 0-9 _ -, at most 64)", (v) => UID_PATTERN.test(v)).openapi({
    description: "one identity of the id: its results and incidents; absent: the list of identities",
    example: "0b6f8e4c-3a52-4c4e-9d7e-7f1d2a9b5c11",
  }),
  from: epochParam().openapi({
    description: "with uid: results from (inclusive, epoch ms); default one hour before `to`",
  }),
  to: epochParam().openapi({
    description: "with uid: results before (exclusive, epoch ms); default the deletion (or now while it lives)",
  }),
  limit: integerParam(1, MAX_RESULTS_LIMIT, DEFAULT_RESULTS_LIMIT).openapi({
    description: "with uid: results, newest first",
  }),
})
  .superRefine(fromBeforeTo, evenWithFieldProblems)
  .openapi("CheckHistoryQuery");

const IdentitySchema = z
  .object({
    uid: z.string(),
    type: z.string(),
    target: z.string().openapi({ description: "what it probed (URL, host:port, DNS name and type...)" }),
    createdAt: z.int().openapi({ description: "epoch ms" }),
    deletedAt: z.int().nullable().openapi({ description: "epoch ms; null while it lives" }),
    current: z.boolean().openapi({ description: "the live check of this id" }),
  })
  .openapi("CheckIdentity");

const HistorySchema = z
  .object({
    checkId: z.string(),
    identities: z
      .array(IdentitySchema)
      .optional()
      .openapi({ description: "without uid: every identity, newest first" }),
    identity: IdentitySchema.optional().openapi({ description: "with uid: the identity asked for" }),
    results: z
      .array(ResultSchema)
      .optional()
      .openapi({ description: "with uid: its results in the window, newest first" }),
    outages: z
      .array(OutageSchema)
      .optional()
      .openapi({ description: "with uid: its incidents (outage, partial), newest first" }),
  })
  .openapi("CheckHistory");

const getHistory = createRoute({
  operationId: "getCheckHistory",
  method: "get",
  path: "/{id}/history",
  tags: ["checks"],
  summary: "The identities a check id has had, and a deleted one's results and incidents",
  description:
    "A check id deleted and created again is a new check (new `uid`): its results, incidents and " +
    "availability start clean. Without `uid`: every identity the id has had. With `uid`: that identity's " +
    "results and incidents, readable after its deletion until retention drops them.",
  ...requires("read"),
  request: { params: CheckIdParams, query: HistoryQuery },
  responses: {
    200: { description: "The history", content: { "application/json": { schema: HistorySchema } } },
    ...errorResponses(400, 401, 403, 404, 503),
  },
});

/**
 * `recorded` (newest first) with each identity recorded without a uid (a check stored before uids,
 * replaced or deleted before the registry gave it one) shown as the uid the registry gives it,
 * legacyUid(id, createdAt), whose rows include those stored without a uid; merged into that uid's own
 * record when there is one, so it is listed once.
 */
function withoutUidless(recorded: readonly CheckIdentity[]): CheckIdentity[] {
  const named = recorded.filter((i) => i.uid !== "");
  const uids = new Set(named.map((i) => i.uid));
  const out = [...named];
  for (const i of recorded) {
    if (i.uid !== "") continue;
    const uid = legacyUid(i.checkId, i.createdAt);
    if (!uids.has(uid)) out.push({ ...i, uid });
  }
  return out.sort((a, b) => b.createdAt - a.createdAt || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}

/** GET /{id}/history, mounted at /v1/checks. */
export function createHistoryRoutes(opts: HistoryRoutesOptions): OpenAPIHono {
  const app = new OpenAPIHono();

  async function identitiesOf(id: string): Promise<(CheckIdentity & { current: boolean })[]> {
    const [live, recorded] = await Promise.all([opts.lookupCheck(id), opts.identities.list(id)]);
    const list = withoutUidless(recorded).map((i) => ({
      ...i,
      current: live !== undefined && i.uid === live.checkUid && i.deletedAt === null,
    }));
    if (live && !list.some((i) => i.current)) {
      // Created before identities were recorded (or its record failed): listed from the registry.
      list.unshift({
        checkId: id,
        uid: live.checkUid,
        type: "",
        target: "",
        createdAt: live.createdAt ?? 0,
        deletedAt: null,
        current: true,
      });
    }
    return list;
  }

  app.openapi(getHistory, async (c) => {
    const { id } = c.req.valid("param");
    const q = c.req.valid("query");
    let list: (CheckIdentity & { current: boolean })[];
    try {
      list = await identitiesOf(id);
    } catch (err) {
      if (err instanceof ValidationError || err instanceof UnavailableError) throw err;
      throw new UnavailableError("history unavailable; try again later", { cause: err });
    }
    const json = (i: CheckIdentity & { current: boolean }) => ({
      uid: i.uid,
      type: i.type,
      target: i.target,
      createdAt: i.createdAt,
      deletedAt: i.deletedAt,
      current: i.current,
    });
    if (q.uid === undefined) {
      if (list.length === 0) throw new NotFoundError("check", id);
      return c.json({ checkId: id, identities: list.map(json) }, 200);
    }
    const identity = list.find((i) => i.uid === q.uid);
    if (!identity) throw new NotFoundError("check identity", `${id} uid ${q.uid}`);
    const end = identity.deletedAt ?? opts.now();
    const to = Math.min(q.to ?? end + 1, end + 1);
    const from = Math.min(Math.max(q.from ?? to - DEFAULT_RESULTS_WINDOW_MS, 0), to);
    // The identity born from a check stored before uids also owns the rows stored without a uid.
    const checkUids = rowUidsOf(id, identity.uid, identity.createdAt);
    const [results, outages] = await Promise.all([
      opts.results.queryResults({ checkId: id, checkUids, from, to, limit: q.limit }),
      opts.outageStore.listOutages({ checkId: id, checkUids, kinds: ["outage", "partial"], limit: 1000 }),
    ]);
    return c.json(
      {
        checkId: id,
        identity: json(identity),
        results: results.map((r) => ({ ...r, checkUid: r.checkUid ?? "" })),
        outages: outages.map(opts.outageJson),
      },
      200,
    );
  });

  return app;
}
