import { ValidationError } from "../errors.js";
import { CHECK_ID_PATTERN } from "../checks/rules.js";
import { HOOK_EVENT_TYPES, type HookEvent } from "./types.js";

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const EVENT_ID = /^[A-Za-z0-9_.:=-]{1,200}$/;
const TIMES = ["startedAt", "confirmedAt", "resolvedAt"] as const;

/**
 * Checks an event handed to `publish()` (from the consensus engine) before it is fanned out, so a
 * bad one is refused with every problem named instead of failing later in a delivery. Returns it
 * with null optional fields (`outageId`, `reason`, `startedAt`, `confirmedAt`, `resolvedAt`) removed.
 */
export function validateEvent(value: unknown): HookEvent {
  const problems: { field: string; message: string }[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  if (!isJsonObject(value))
    throw new ValidationError("invalid event: must be an object", {
      field: "event",
      problems: [{ field: "event", message: "must be an object" }],
    });
  const { id, type, timestamp, data } = value;
  if (typeof id !== "string" || !EVENT_ID.test(id)) add("id", "must be 1-200 characters of A-Z a-z 0-9 _ . : = -");
  if (typeof type !== "string" || (type !== "test" && !(HOOK_EVENT_TYPES as readonly string[]).includes(type)))
    add("type", `must be one of ${HOOK_EVENT_TYPES.join(", ")}, test`);
  if (typeof timestamp !== "string" || Number.isNaN(Date.parse(timestamp)))
    add("timestamp", "must be an ISO 8601 time");
  if (!isJsonObject(data)) add("data", "must be an object");
  else {
    if (typeof data.checkId !== "string" || !CHECK_ID_PATTERN.test(data.checkId))
      add("data.checkId", "must be a check id");
    if (typeof data.state !== "string" || data.state === "") add("data.state", "must be a non-empty string");
    const present = (k: string) => data[k] !== undefined && data[k] !== null;
    if (present("outageId") && typeof data.outageId !== "string") add("data.outageId", "must be a string");
    if (present("reason") && typeof data.reason !== "string") add("data.reason", "must be a string");
    for (const t of TIMES)
      if (present(t) && (typeof data[t] !== "number" || !Number.isFinite(data[t])))
        add(`data.${t}`, "must be epoch milliseconds");
    if (!isJsonObject(data.regions)) add("data.regions", "must be an object of region -> { state, since? }");
    else {
      for (const [r, s] of Object.entries(data.regions)) {
        if (!isJsonObject(s) || typeof s.state !== "string" || (s.since !== undefined && typeof s.since !== "number"))
          add(`data.regions.${r}`, "must be { state: string, since?: number }");
      }
    }
  }
  const first = problems[0];
  if (first)
    throw new ValidationError(`invalid event: ${first.field}: ${first.message}`, { field: first.field, problems });
  if (!isJsonObject(data)) throw new Error("unreachable: data checked above");
  // null (e.g. an open outage's resolvedAt) means absent: drop it so consumers never see 1970.
  const cleaned = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== null));
  return { ...(value as unknown as HookEvent), data: cleaned as unknown as HookEvent["data"] };
}
