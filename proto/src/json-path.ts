/**
 * The one JSON path grammar agent and control plane agree on, so the API never accepts a path the
 * agent would read differently. A path is `$`, empty, or a chain of keys and indexes:
 * `items.0.name`, `$.items[0].name`, `$["key with dots"]`. Keys in dotted form are any characters
 * but `.`, `[`, `]`; bracketed keys are JSON strings; indexes are non-negative integers.
 */

/** One step of a parsed path: a property name or an array index. */
export type JsonPathSegment = string | number;

/** A parsed path, or why it is not one. */
export type ParsedJsonPath = { segments: JsonPathSegment[] } | { problem: string };

/**
 * Parses `path`. A bare number in dotted form (`items.0`) is an index when it meets an array and a
 * key otherwise (it stays a string here; the reader decides).
 */
export function parseJsonPath(path: string): ParsedJsonPath {
  let rest = path.startsWith("$") ? path.slice(1) : path;
  if (rest === "") return { segments: [] };
  const segments: JsonPathSegment[] = [];
  let first = !path.startsWith("$");
  while (rest !== "") {
    if (rest.startsWith("[")) {
      const index = /^\[(\d{1,9})\]/.exec(rest);
      if (index) {
        segments.push(Number(index[1]));
        rest = rest.slice(index[0].length);
      } else {
        const quoted = /^\[("(?:[^"\\]|\\.)*")\]/.exec(rest);
        if (!quoted) return { problem: `expected [index] or ["key"] at ${JSON.stringify(rest.slice(0, 20))}` };
        try {
          segments.push(JSON.parse(quoted[1] as string) as string);
        } catch {
          return { problem: `invalid quoted key ${quoted[1] as string}` };
        }
        rest = rest.slice(quoted[0].length);
      }
    } else {
      if (!first) {
        if (!rest.startsWith(".")) return { problem: `expected "." or "[" at ${JSON.stringify(rest.slice(0, 20))}` };
        rest = rest.slice(1);
      }
      const key = /^[^.[\]]+/.exec(rest);
      if (!key) return { problem: "empty key (two dots, or a trailing dot)" };
      segments.push(key[0]);
      rest = rest.slice(key[0].length);
    }
    first = false;
  }
  return { segments };
}

/** Why `path` is not a JSON path of this grammar, or undefined. */
export function jsonPathProblem(path: string): string | undefined {
  const parsed = parseJsonPath(path);
  return "problem" in parsed ? parsed.problem : undefined;
}
