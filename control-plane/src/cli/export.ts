import { stringify } from "yaml";
import { isObject, KINDS, API_VERSION, type Json, type Kind, type MeshFile } from "./mesh-file.js";
import { isEmpty, MAP_FIELDS, MASK, withoutReadOnly } from "./plan.js";

const WHOLE_SECRET = /^(?:whsec_)?\*\*\*$/;

function envName(parts: readonly string[]): string {
  return parts
    .join("_")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .toUpperCase();
}

/**
 * The file form of a stored value: empty fields dropped (the API fills them in again), and every
 * masked secret replaced by an environment reference named after the object and field
 * (`{fromEnv: OPS_SECRET}` for a whole value, `${env:WEB_HTTP_URL_TOKEN}` inside a URL).
 */
function fileValue(v: unknown, path: string[], inMap: boolean): unknown {
  if (typeof v === "string") {
    if (WHOLE_SECRET.test(v)) return { fromEnv: envName(path) };
    if (!v.includes(MASK)) return v;
    let n = 0;
    return v.replace(
      /([A-Za-z0-9_.-]*)=\*\*\*/g,
      (_m, key: string) => `${key}=\${env:${envName([...path, key || String(++n)])}}`,
    );
  }
  if (Array.isArray(v)) return v.map((item, i) => fileValue(item, [...path, String(i)], false));
  if (isObject(v)) {
    const out: Json = {};
    for (const [k, item] of Object.entries(v)) {
      const kept = fileValue(item, [...path, k], MAP_FIELDS.has(k));
      if (!inMap && isEmpty(kept)) continue;
      out[k] = kept;
    }
    return out;
  }
  return v;
}

/** A stored object as a mesh file lists it (maintenance times as ISO-8601 dates). */
export function toFileObject(kind: Kind, stored: Json): Json {
  const obj = fileValue(withoutReadOnly(kind, stored), [String(stored.id)], false) as Json;
  if (kind === "maintenance") {
    const iso = (v: unknown) => (typeof v === "number" ? new Date(v).toISOString() : v);
    if ("from" in obj) obj.from = iso(obj.from);
    if ("to" in obj) obj.to = iso(obj.to);
    if (isObject(obj.repeat) && "until" in obj.repeat) obj.repeat = { ...obj.repeat, until: iso(obj.repeat.until) };
  }
  // id first, type second: the file reads like the README's example.
  const { id, type, ...rest } = obj;
  return { id, ...(type !== undefined ? { type } : {}), ...rest };
}

/** The YAML of a whole mesh, as `probemesh export` prints it (kinds left out of `stored` are left out). */
export function exportMesh(stored: Partial<Record<Kind, Json[]>>): string {
  const file: { apiVersion: string } & MeshFile = { apiVersion: API_VERSION };
  for (const kind of KINDS) {
    const list = stored[kind];
    if (list)
      file[kind] = [...list].sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1)).map((o) => toFileObject(kind, o));
  }
  return (
    "# probemesh mesh file (probemesh export). Secrets are environment references: set them before `probemesh apply`.\n" +
    stringify(file, { lineWidth: 0 })
  );
}
