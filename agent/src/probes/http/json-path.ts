/** What a dotted path found in a JSON document. */
export type JsonLookup = { found: true; value: unknown } | { found: false };

/**
 * Follows a dotted path ("items.0.name") through parsed JSON. Numeric segments index arrays;
 * an empty path is the document itself.
 */
export function jsonLookup(doc: unknown, path: string): JsonLookup {
  if (path === "" || path === "$") return { found: true, value: doc };
  let cur: unknown = doc;
  for (const seg of path.replace(/^\$\./, "").split(".")) {
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg)) return { found: false };
      const i = Number(seg);
      if (i >= cur.length) return { found: false };
      cur = cur[i];
    } else if (cur !== null && typeof cur === "object") {
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
