import { parse, YAMLParseError } from "yaml";
import { CliError } from "./errors.js";

/** The kinds of object a mesh file holds, in the order they are created. */
export const KINDS = ["checks", "hooks", "maintenance"] as const;
export type Kind = (typeof KINDS)[number];

/** A JSON object (an API body). */
export type Json = Record<string, unknown>;

/** A parsed mesh file: the objects of each kind it lists (a kind absent from the file is not managed). */
export type MeshFile = Partial<Record<Kind, Json[]>>;

/** Singular names, for messages. */
export const SINGULAR: Record<Kind, string> = { checks: "check", hooks: "hook", maintenance: "maintenance window" };

const TOP_LEVEL = new Set<string>(["apiVersion", ...KINDS]);
/** The one `apiVersion` the file format has. */
export const API_VERSION = "probemesh/v1";

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses a mesh file (YAML or JSON): `apiVersion` (optional, `probemesh/v1`) and lists `checks`,
 * `hooks`, `maintenance` of API bodies, each with a unique `id`. Secrets stay as environment
 * references here (see {@link resolveEnv}).
 */
export function parseMeshFile(text: string, source: string): MeshFile {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true });
  } catch (err) {
    const where = err instanceof YAMLParseError ? err.message.split("\n")[0] : String(err);
    throw new CliError(`${source}: not valid YAML: ${where}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObject(doc)) throw new CliError(`${source}: must be a mapping with checks, hooks and maintenance lists`);
  const unknown = Object.keys(doc).filter((k) => !TOP_LEVEL.has(k));
  if (unknown.length > 0)
    throw new CliError(
      `${source}: unknown key ${JSON.stringify(unknown[0])} (expected apiVersion, ${KINDS.join(", ")})`,
    );
  if (doc.apiVersion !== undefined && doc.apiVersion !== API_VERSION)
    throw new CliError(
      `${source}: apiVersion must be ${JSON.stringify(API_VERSION)}, got ${JSON.stringify(doc.apiVersion)}`,
    );
  const out: MeshFile = {};
  for (const kind of KINDS) {
    const list = doc[kind];
    if (list === undefined) continue;
    if (list === null) {
      out[kind] = [];
      continue;
    }
    if (!Array.isArray(list)) throw new CliError(`${source}: ${kind} must be a list`);
    const seen = new Set<string>();
    out[kind] = list.map((item, i) => {
      if (!isObject(item)) throw new CliError(`${source}: ${kind}[${i}] must be a mapping`);
      const id = item.id;
      if (typeof id !== "string" || id === "") throw new CliError(`${source}: ${kind}[${i}].id is required`);
      if (seen.has(id))
        throw new CliError(`${source}: ${kind}[${i}]: ${SINGULAR[kind]} ${JSON.stringify(id)} is listed twice`);
      seen.add(id);
      return kind === "maintenance" ? withEpochTimes(item, `${source}: ${kind}[${i}]`) : item;
    });
  }
  return out;
}

/** Maintenance times may be written as ISO-8601 dates; the API takes epoch ms. */
function withEpochTimes(w: Json, where: string): Json {
  const epoch = (v: unknown, field: string): unknown => {
    if (typeof v !== "string") return v;
    const ms = Date.parse(v);
    if (Number.isNaN(ms))
      throw new CliError(`${where}.${field}: ${JSON.stringify(v)} is not an ISO-8601 date or epoch ms`);
    return ms;
  };
  const out: Json = { ...w };
  if ("from" in out) out.from = epoch(out.from, "from");
  if ("to" in out) out.to = epoch(out.to, "to");
  if (isObject(out.repeat) && "until" in out.repeat)
    out.repeat = { ...out.repeat, until: epoch(out.repeat.until, "repeat.until") };
  return out;
}

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** True when `v` is a `{fromEnv: NAME}` reference (`as: number` for a numeric field such as a port). */
function isFromEnv(v: unknown): v is { fromEnv: string; as?: "number" } {
  return (
    isObject(v) &&
    typeof v.fromEnv === "string" &&
    Object.keys(v).every((k) => k === "fromEnv" || k === "as") &&
    (v.as === undefined || v.as === "number")
  );
}

/**
 * A copy of `value` with every environment reference replaced by the variable's value:
 * `{fromEnv: NAME}` (the whole value) and `${env:NAME}` (inside a string). A variable that is not
 * set is an error naming the field and the variable (a secret is never taken from the file).
 */
export function resolveEnv(value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  const lookup = (name: string): string => {
    const v = env[name];
    if (v === undefined)
      throw new CliError(`${path}: environment variable ${name} is not set (the file references it)`);
    return v;
  };
  if (isFromEnv(value)) {
    const text = lookup(value.fromEnv);
    if (value.as !== "number") return text;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n))
      throw new CliError(
        `${path}: environment variable ${value.fromEnv} must be a number, got ${JSON.stringify(text)}`,
      );
    return n;
  }
  if (typeof value === "string") return value.replace(ENV_REF, (_m, name: string) => lookup(name));
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, env, `${path}[${i}]`));
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnv(v, env, `${path}.${k}`)]));
  return value;
}

/** True when `value` holds an environment reference anywhere. */
export function hasEnvRef(value: unknown): boolean {
  if (isFromEnv(value)) return true;
  if (typeof value === "string") return new RegExp(ENV_REF.source).test(value);
  if (Array.isArray(value)) return value.some(hasEnvRef);
  if (isObject(value)) return Object.values(value).some(hasEnvRef);
  return false;
}
