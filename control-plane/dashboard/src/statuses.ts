// Every check's verdict: GET /v1/status in one call, or, on a control plane without it, the check
// list and one GET /v1/checks/{id}/status per check.
import { ApiError, enc, getJson } from "./api";
import type { Check, Status, StatusList } from "./types";

export async function loadStatuses(token: string): Promise<Status[]> {
  try {
    return (await getJson<StatusList>("/v1/status", token)).checks;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  const checks = await getJson<Check[]>("/v1/checks", token);
  return Promise.all(
    checks.map(async (c): Promise<Status> => {
      const base = { name: c.name, labels: c.labels ?? {} };
      try {
        return { ...(await getJson<Status>(`/v1/checks/${enc(c.id)}/status`, token)), ...base };
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        return { checkId: c.id, state: "unknown", reason: "owner unavailable", since: null, regions: {}, ...base };
      }
    }),
  ).then((list) => list.sort((a, b) => (a.checkId < b.checkId ? -1 : a.checkId > b.checkId ? 1 : 0)));
}
