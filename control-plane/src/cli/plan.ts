import { isObject, KINDS, SINGULAR, type Json, type Kind, type MeshFile } from "./mesh-file.js";

/** Fields only answers carry (bookkeeping): never compared, never sent, never exported. */
export const READ_ONLY: Record<Kind, readonly string[]> = {
  checks: ["uid", "version", "createdAt", "updatedAt", "warnings"],
  hooks: ["createdAt", "updatedAt", "disabled", "hasSecret"],
  maintenance: ["createdAt"],
};

/** Objects compared and replaced whole (label sets, header maps): a key left out of the file is removed. */
export const MAP_FIELDS: ReadonlySet<string> = new Set(["labels", "headers", "selector", "metadata"]);

/** What the API shows instead of a secret (`***`, `whsec_***`, `?token=***`). */
export const MASK = "***";

/** One changed field of an update. */
export interface FieldChange {
  /** Dotted path, e.g. `http.url`. */
  path: string;
  from: unknown;
  to: unknown;
}

/** One write apply makes. */
export interface Step {
  kind: Kind;
  id: string;
  action: "create" | "update" | "delete";
  /** For updates: the fields that differ. */
  changes: FieldChange[];
}

/** A copy of an answer's object without its read-only fields. */
export function withoutReadOnly(kind: Kind, obj: Json): Json {
  const out = { ...obj };
  for (const k of READ_ONLY[kind]) delete out[k];
  return out;
}

/** True for a value the API treats as unset: absent, null, "", false, 0, [] or {}. */
export function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === "" ||
    v === false ||
    v === 0 ||
    (Array.isArray(v) && v.length === 0) ||
    (isObject(v) && Object.keys(v).length === 0)
  );
}

/** True when the stored string `shown` (secrets masked as `***`) may be the value `wanted`. */
function maskedMatches(shown: string, wanted: string): boolean {
  const pattern = shown
    .split(MASK)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("[^]*");
  return new RegExp(`^${pattern}$`).test(wanted);
}

/**
 * True when the file's value `wanted` equals the stored `shown`: deep, a masked secret matches any
 * value (the API never shows it, so it cannot be compared), an absent field matches an empty one,
 * and a number matches its digits (the API keeps `quorum: 2` as "2").
 */
export function sameValue(wanted: unknown, shown: unknown): boolean {
  if (isEmpty(wanted) && isEmpty(shown)) return true;
  if (typeof shown === "string" && typeof wanted === "string")
    return wanted === shown || (shown.includes(MASK) && maskedMatches(shown, wanted));
  if (typeof shown === "string" && typeof wanted === "number") return shown === String(wanted);
  if (typeof shown === "number" && typeof wanted === "string") return String(shown) === wanted;
  if (Array.isArray(wanted) && Array.isArray(shown))
    return wanted.length === shown.length && wanted.every((w, i) => sameValue(w, shown[i]));
  if (isObject(wanted) && isObject(shown)) {
    const keys = new Set([...Object.keys(wanted), ...Object.keys(shown)]);
    return [...keys].every((k) => sameValue(wanted[k], shown[k]));
  }
  return wanted === shown;
}

/**
 * The fields of `wanted` (a file object) that differ from `shown` (the stored one). Fields the file
 * leaves out are not managed by it: they keep the stored value (`labels: {}` clears labels). Objects
 * are compared field by field, maps ({@link MAP_FIELDS}) and lists as a whole.
 */
export function fieldChanges(wanted: Json, shown: Json, prefix = ""): FieldChange[] {
  const out: FieldChange[] = [];
  for (const [key, w] of Object.entries(wanted)) {
    const s = shown[key];
    const path = prefix ? `${prefix}.${key}` : key;
    if (isObject(w) && isObject(s) && !MAP_FIELDS.has(key)) out.push(...fieldChanges(w, s, path));
    else if (!sameValue(w, s)) out.push({ path, from: s, to: w });
  }
  return out;
}

/**
 * The body of a PUT: the stored object (read-only fields dropped, secrets masked: the API keeps
 * their stored values) with the file's fields over it, objects merged field by field.
 */
export function mergeForPut(kind: Kind, shown: Json, wanted: Json): Json {
  const merge = (base: Json, over: Json): Json => {
    const out: Json = { ...base };
    for (const [k, v] of Object.entries(over)) {
      const b = out[k];
      out[k] = isObject(v) && isObject(b) && !MAP_FIELDS.has(k) ? merge(b, v) : v;
    }
    return out;
  };
  return merge(withoutReadOnly(kind, shown), wanted);
}

/** Ids in an order where each check comes after the checks it depends on (within `objects`). */
export function dependencyOrder(objects: readonly Json[]): string[] {
  const byId = new Map(objects.map((o) => [String(o.id), o]));
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const deps = byId.get(id)?.dependsOn;
    if (Array.isArray(deps)) for (const d of deps) if (typeof d === "string" && byId.has(d)) visit(d);
    out.push(id);
  };
  for (const id of [...byId.keys()].sort()) visit(id);
  return out;
}

/**
 * The writes that make the stored objects (`current`, as the API lists them) match the file:
 * creations and updates in dependency order (checks, then hooks, then maintenance windows), then,
 * with `prune`, deletions of stored objects of the kinds the file lists that it does not name
 * (windows, hooks, then checks, dependents first).
 */
export function planApply(file: MeshFile, current: Partial<Record<Kind, Json[]>>, prune: boolean): Step[] {
  const steps: Step[] = [];
  for (const kind of KINDS) {
    const wanted = file[kind];
    if (!wanted) continue;
    const stored = new Map((current[kind] ?? []).map((o) => [String(o.id), o]));
    const byId = new Map(wanted.map((o) => [String(o.id), o]));
    const order = kind === "checks" ? dependencyOrder(wanted) : [...byId.keys()].sort();
    for (const id of order) {
      const w = byId.get(id)!;
      const s = stored.get(id);
      if (!s) steps.push({ kind, id, action: "create", changes: [] });
      else {
        const changes = fieldChanges(w, withoutReadOnly(kind, s));
        if (changes.length > 0) steps.push({ kind, id, action: "update", changes });
      }
    }
  }
  if (!prune) return steps;
  for (const kind of [...KINDS].reverse()) {
    const wanted = file[kind];
    if (!wanted) continue;
    const named = new Set(wanted.map((o) => String(o.id)));
    const stored = current[kind] ?? [];
    const order = kind === "checks" ? dependencyOrder(stored).reverse() : stored.map((o) => String(o.id)).sort();
    for (const id of order) if (!named.has(id)) steps.push({ kind, id, action: "delete", changes: [] });
  }
  return steps;
}

/** The value at a dotted path of an object (for printing the file's own value: its env references, never a secret). */
export function valueAt(obj: Json, path: string): unknown {
  let at: unknown = obj;
  for (const key of path.split(".")) at = isObject(at) ? at[key] : undefined;
  return at;
}

function show(v: unknown): string {
  return v === undefined ? "(unset)" : JSON.stringify(v);
}

/**
 * The lines a plan prints: `+ check web`, `~ hook ops` with one indented `field: old → new` per
 * change (new values from `raw`, the file before env references were resolved), `- check old`.
 */
export function formatPlan(steps: readonly Step[], raw: MeshFile): string[] {
  const lines: string[] = [];
  for (const s of steps) {
    const name = `${SINGULAR[s.kind]} ${s.id}`;
    if (s.action === "create") lines.push(`+ ${name}`);
    else if (s.action === "delete") lines.push(`- ${name}`);
    else {
      lines.push(`~ ${name}`);
      const rawObj = raw[s.kind]?.find((o) => o.id === s.id) ?? {};
      for (const c of s.changes) lines.push(`    ${c.path}: ${show(c.from)} → ${show(valueAt(rawObj, c.path))}`);
    }
  }
  return lines;
}

/** One line saying how many objects a plan creates, updates and deletes. */
export function planSummary(steps: readonly Step[]): string {
  const count = (a: Step["action"]) => steps.filter((s) => s.action === a).length;
  return `${count("create")} to create, ${count("update")} to update, ${count("delete")} to delete`;
}
