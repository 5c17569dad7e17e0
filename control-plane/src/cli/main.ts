#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { applyMesh, KIND_PATH, listStored } from "./apply.js";
import { CliError, EXIT_USAGE, usageError } from "./errors.js";
import { eventLine, followEvents } from "./events.js";
import { exportMesh } from "./export.js";
import { createApiClient, type ApiClient } from "./http.js";
import { KINDS, parseMeshFile, resolveEnv, SINGULAR, type Kind, type MeshFile } from "./mesh-file.js";
import { FORMATS, render, type Format } from "./output.js";

/** `get` kinds: their API path and table columns. */
const GETTABLE: Record<string, { path: string; columns: string[] }> = {
  checks: { path: "/v1/checks", columns: ["id", "type", "name", "labels", "regions", "intervalMs"] },
  hooks: { path: "/v1/hooks", columns: ["id", "type", "checks", "selector", "events", "disabled"] },
  maintenance: { path: "/v1/maintenance", columns: ["id", "checks", "labels", "from", "to", "description"] },
  agents: { path: "/v1/agents", columns: ["id", "region", "provider", "version", "connected", "impaired"] },
  outages: {
    path: "/v1/outages",
    columns: ["checkId", "kind", "state", "startedAt", "resolvedAt", "regions", "reason"],
  },
};
const STATUS_COLUMNS = ["checkId", "state", "since", "reason", "regions"];

/** A status as a table row: `since` as a date, regions as `region=state`. */
function statusRow(s: unknown): Record<string, unknown> {
  const o = (typeof s === "object" && s !== null ? s : {}) as Record<string, unknown>;
  const regions = (typeof o.regions === "object" && o.regions !== null ? o.regions : {}) as Record<
    string,
    { state?: string }
  >;
  return {
    ...o,
    since: typeof o.since === "number" ? new Date(o.since).toISOString() : "",
    regions: Object.fromEntries(Object.entries(regions).map(([r, v]) => [r, v.state ?? ""])),
  };
}

interface Globals {
  url?: string;
  token?: string;
  caFile?: string;
}

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`);

async function client(cmd: Command): Promise<ApiClient> {
  const g = cmd.optsWithGlobals<Globals>();
  const url = g.url ?? process.env.PROBEMESH_URL;
  const token = g.token ?? process.env.PROBEMESH_TOKEN;
  const caFile = g.caFile ?? process.env.PROBEMESH_CA_FILE;
  if (!url) throw usageError("no control plane URL: set PROBEMESH_URL or --url (e.g. https://127.0.0.1:8080)");
  if (!token) throw usageError("no API token: set PROBEMESH_TOKEN or --token");
  let ca: Buffer | undefined;
  if (caFile) {
    ca = await readFile(caFile).catch((e: NodeJS.ErrnoException) => {
      throw new CliError(`cannot read the CA file ${caFile} (PROBEMESH_CA_FILE): ${e.code ?? e.message}`);
    });
  }
  return createApiClient({ url, token, ...(ca ? { ca } : {}) });
}

function format(value: string): Format {
  if (!(FORMATS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${FORMATS.join(", ")}`);
  return value as Format;
}

async function readMesh(path: string): Promise<{ raw: MeshFile; resolved: MeshFile }> {
  const text =
    path === "-"
      ? await readStdin()
      : await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
          throw new CliError(`cannot read ${path}: ${e.code ?? e.message}`);
        });
  const raw = parseMeshFile(text, path);
  const resolved: MeshFile = {};
  for (const kind of KINDS) {
    const list = raw[kind];
    if (list)
      resolved[kind] = list.map(
        (o, i) => resolveEnv(o, process.env, `${path}: ${kind}[${i}] (${String(o.id)})`) as typeof o,
      );
  }
  return { raw, resolved };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The `probemesh` command line. */
export function program(): Command {
  const p = new Command("probemesh")
    .description("probemesh control plane client: config as code (apply, export), get, status, events")
    .option("--url <url>", "API base URL (default: $PROBEMESH_URL)")
    .option("--token <token>", "API bearer token (default: $PROBEMESH_TOKEN; prefer the variable: flags show in ps)")
    .option("--ca-file <file>", "PEM of the CA of the API's certificate (default: $PROBEMESH_CA_FILE)")
    .showHelpAfterError()
    .exitOverride();

  p.command("apply")
    .description("make the mesh match a mesh file: prints + create, ~ update (fields), - delete (--prune)")
    .requiredOption("-f, --file <file>", "mesh file (YAML), - for stdin")
    .option("--dry-run", "print the diff, change nothing")
    .option("--prune", "delete stored objects of the kinds the file lists that it does not name")
    .action(async (o: { file: string; dryRun?: boolean; prune?: boolean }, cmd: Command) => {
      const { raw, resolved } = await readMesh(o.file);
      const api = await client(cmd);
      await applyMesh(api, resolved, raw, {
        dryRun: o.dryRun === true,
        prune: o.prune === true,
        print: (l) => out(`${l}\n`),
      });
    });

  p.command("export")
    .description("print the mesh's checks, hooks and maintenance windows as a mesh file (secrets as env references)")
    .action(async (_o: unknown, cmd: Command) => {
      const api = await client(cmd);
      const stored: Partial<Record<Kind, Record<string, unknown>[]>> = {};
      for (const kind of KINDS) {
        const answer = await api.request("GET", KIND_PATH[kind]);
        if (kind === "hooks" && answer.status === 403) {
          err("export: hooks left out: the token lacks the admin scope (apply will not touch hooks)");
          continue;
        }
        Object.assign(stored, await listStored(api, [kind]));
      }
      out(exportMesh(stored));
    });

  p.command("get")
    .description(`list ${Object.keys(GETTABLE).join("|")}`)
    .argument("<kind>", Object.keys(GETTABLE).join("|"))
    .addOption(new Option("-o, --output <format>", "table, json or yaml").default("table").argParser(format))
    .action(async (kind: string, o: { output: Format }, cmd: Command) => {
      const what = GETTABLE[kind];
      if (!what)
        throw usageError(`get: unknown kind ${JSON.stringify(kind)} (one of ${Object.keys(GETTABLE).join(", ")})`);
      const api = await client(cmd);
      const answer = await api.call(`listing ${kind}`, "GET", what.path);
      out(render(answer.body, o.output, what.columns));
    });

  p.command("status")
    .description("global verdict of every check (GET /v1/status) or of one (GET /v1/checks/{id}/status)")
    .argument("[check]", "check id")
    .addOption(new Option("-o, --output <format>", "table, json or yaml").default("table").argParser(format))
    .action(async (check: string | undefined, o: { output: Format }, cmd: Command) => {
      const api = await client(cmd);
      if (check) {
        const answer = await api.call(
          `status of check ${JSON.stringify(check)}`,
          "GET",
          `/v1/checks/${encodeURIComponent(check)}/status`,
        );
        out(render(o.output === "table" ? statusRow(answer.body) : answer.body, o.output, STATUS_COLUMNS));
        return;
      }
      const answer = await api.call("status", "GET", "/v1/status");
      const body = answer.body as { checks?: unknown[]; unavailablePartitions?: unknown[] };
      if (o.output !== "table") {
        out(render(body, o.output, STATUS_COLUMNS));
        return;
      }
      out(render((body.checks ?? []).map(statusRow), "table", STATUS_COLUMNS));
      if (Array.isArray(body.unavailablePartitions) && body.unavailablePartitions.length > 0)
        err(
          `partitions whose owner did not answer: ${body.unavailablePartitions.join(", ")} (their checks show unknown)`,
        );
    });

  p.command("events")
    .description("follow GET /v1/events: one line per event; reconnects with Last-Event-ID")
    .option("--types <list>", "comma list of event names (transition, status, delivery)")
    .option("--label <key=value...>", "only checks with these labels")
    .option("--region <region>", "only checks probed from this region")
    .option("--state <list>", "status events of these states only (up,degraded,partial,down,unknown)")
    .option("--limit <n>", "exit after n events", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
      return n;
    })
    .addOption(
      new Option("-o, --output <format>", "line or json (one JSON object per line)")
        .default("line")
        .choices(["line", "json"]),
    )
    .action(
      async (
        o: { types?: string; label?: string[]; region?: string; state?: string; limit?: number; output: string },
        cmd: Command,
      ) => {
        const api = await client(cmd);
        const q = new URLSearchParams();
        if (o.types) q.set("types", o.types);
        for (const l of o.label ?? []) q.append("label", l);
        if (o.region) q.set("region", o.region);
        if (o.state) q.set("state", o.state);
        const query = q.size > 0 ? `?${q.toString()}` : "";
        const stop = new AbortController();
        process.once("SIGINT", () => stop.abort());
        process.once("SIGTERM", () => stop.abort());
        await followEvents(api, {
          query,
          signal: stop.signal,
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
          warn: err,
          connected: err,
          print: (e) =>
            out(
              o.output === "json"
                ? `${JSON.stringify({ id: e.id, event: e.event, data: safeJson(e.data) })}\n`
                : `${eventLine(e)}\n`,
            ),
        });
      },
    );

  p.command("delete")
    .description("delete one check, hook or maintenance window")
    .argument("<kind>", KINDS.join("|"))
    .argument("<id>")
    .option("--if-match <etag>", "delete only if it is still at this version (ETag from a GET)")
    .action(async (kind: string, id: string, o: { ifMatch?: string }, cmd: Command) => {
      if (!(KINDS as readonly string[]).includes(kind))
        throw usageError(`delete: unknown kind ${JSON.stringify(kind)} (one of ${KINDS.join(", ")})`);
      const k = kind as Kind;
      const api = await client(cmd);
      await api.call(
        `delete ${SINGULAR[k]} ${JSON.stringify(id)}`,
        "DELETE",
        `${KIND_PATH[k]}/${encodeURIComponent(id)}`,
        {
          headers: o.ifMatch ? { "if-match": o.ifMatch } : {},
        },
      );
      out(`- ${SINGULAR[k]} ${id}\n`);
    });

  return p;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Runs the command line; resolves with the exit code (0 ok, 1 errors, 2 usage). */
export async function run(argv: readonly string[]): Promise<number> {
  const p = program();
  p.configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  try {
    await p.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help")
        return 0;
      return EXIT_USAGE;
    }
    if (e instanceof CliError) {
      err(`probemesh: ${e.message}`);
      return e.exitCode;
    }
    err(`probemesh: unexpected error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

// Run when executed as the bin (not when imported by tests).
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : "";
if (invoked === realpathSync(fileURLToPath(import.meta.url))) {
  void run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
