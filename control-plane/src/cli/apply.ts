import type { ApiClient } from "./http.js";
import { answerProblem } from "./http.js";
import { CliError } from "./errors.js";
import { KINDS, SINGULAR, type Json, type Kind, type MeshFile } from "./mesh-file.js";
import { fieldChanges, formatPlan, mergeForPut, planApply, planSummary, withoutReadOnly, type Step } from "./plan.js";

/** The API path of each kind. */
export const KIND_PATH: Record<Kind, string> = {
  checks: "/v1/checks",
  hooks: "/v1/hooks",
  maintenance: "/v1/maintenance",
};

/** Every stored object of the kinds `kinds`, as the API lists them. */
export async function listStored(api: ApiClient, kinds: readonly Kind[]): Promise<Partial<Record<Kind, Json[]>>> {
  const out: Partial<Record<Kind, Json[]>> = {};
  for (const kind of kinds) {
    const answer = await api.call(`listing ${kind}`, "GET", KIND_PATH[kind]);
    out[kind] = Array.isArray(answer.body) ? (answer.body as Json[]) : [];
  }
  return out;
}

/** What {@link applyMesh} did. */
export interface ApplyReport {
  steps: Step[];
  /** Lines to print: the diff, then the summary. */
  lines: string[];
}

const enc = encodeURIComponent;

/**
 * Makes the mesh match `file` (secrets resolved; `raw` is the file as written, for printing): lists
 * the stored objects, plans, and unless `dryRun` writes each step. Updates and deletions read the
 * object first and send its `ETag` as `If-Match`, so a change made by someone else between the read
 * and the write fails with 412 instead of being overwritten.
 */
export async function applyMesh(
  api: ApiClient,
  file: MeshFile,
  raw: MeshFile,
  opts: { dryRun: boolean; prune: boolean; print: (line: string) => void },
): Promise<ApplyReport> {
  const kinds = KINDS.filter((k) => file[k] !== undefined);
  const stored = await listStored(api, kinds);
  const steps = planApply(file, stored, opts.prune);
  const lines = formatPlan(steps, raw);
  for (const l of lines) opts.print(l);
  if (steps.length === 0) {
    opts.print("no changes: the mesh already matches the file");
    return { steps, lines };
  }
  if (opts.dryRun) {
    opts.print(`dry run: ${planSummary(steps)} (nothing written)`);
    return { steps, lines };
  }
  for (const step of steps) await write(api, step, file);
  opts.print(`applied: ${planSummary(steps)}`);
  return { steps, lines };
}

async function write(api: ApiClient, step: Step, file: MeshFile): Promise<void> {
  const { kind, id } = step;
  const what = `${step.action} ${SINGULAR[kind]} ${JSON.stringify(id)}`;
  const path = `${KIND_PATH[kind]}/${enc(id)}`;
  const wanted = file[kind]?.find((o) => o.id === id);
  if (step.action === "create") {
    await api.call(what, "POST", KIND_PATH[kind], { body: wanted });
    return;
  }
  const read = await api.request("GET", path);
  if (read.status === 404) throw new CliError(`${what}: it was deleted since the plan was made; run apply again`);
  if (read.status !== 200) throw answerProblem(what, read);
  const etag = read.headers.etag;
  const shown = read.body as Json;
  const headers: Record<string, string> = etag ? { "if-match": etag } : {};
  if (step.action === "delete") {
    await api.call(what, "DELETE", path, { headers });
    return;
  }
  if (!wanted) return;
  // Planned from the list; what is written is judged again on this read, under its ETag.
  if (fieldChanges(wanted, withoutReadOnly(kind, shown)).length === 0) return;
  await api.call(what, "PUT", path, { body: mergeForPut(kind, shown, wanted), headers });
}
