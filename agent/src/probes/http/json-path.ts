import { parseJsonPath } from "@probemesh/proto";

/** What a dotted path found in a JSON document. */
export type JsonLookup = { found: true; value: unknown } | { found: false };

/**
 * Follows a path of the shared grammar (`items.0.name`, `$.items[0].name`, `$["a.b"]`; see
 * `parseJsonPath`) through parsed JSON. A dotted number indexes an array and names a key of an
 * object; `[n]` indexes arrays only. An empty path or `$` is the document itself; a path the
 * grammar refuses finds nothing (the API refuses such paths at creation).
 */
export function jsonLookup(doc: unknown, path: string): JsonLookup {
  const parsed = parseJsonPath(path);
  if ("problem" in parsed) return { found: false };
  let cur: unknown = doc;
  for (const seg of parsed.segments) {
    if (Array.isArray(cur)) {
      const i = typeof seg === "number" ? seg : /^\d+$/.test(seg) ? Number(seg) : -1;
      if (i < 0 || i >= cur.length) return { found: false };
      cur = cur[i];
    } else if (cur !== null && typeof cur === "object" && typeof seg === "string") {
      if (!Object.prototype.hasOwnProperty.call(cur, seg)) return { found: false };
      cur = (cur as Record<string, unknown>)[seg];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: cur };
}

/** Structural equality of two JSON values (key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every(
        (k) =>
          Object.prototype.hasOwnProperty.call(b, k) &&
          jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
      )
    );
  }
  return false;
}
