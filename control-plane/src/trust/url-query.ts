/**
 * Query strings of target URLs. Every query value is treated as a secret (`?token=...` is how many
 * health endpoints and webhook receivers authenticate): sealed at rest, masked in API answers and
 * in stored results. Names stay visible. Work is done on the raw string so that a URL comes back
 * exactly as written (no re-encoding by the URL parser).
 */

/** What the API shows instead of a query value. */
export const QUERY_MASK = "***";

/** `url` with each query value replaced by `fn(value, name, index)`; unchanged without a query. */
export function mapQueryValues(url: string, fn: (value: string, name: string, index: number) => string): string {
  const hash = url.indexOf("#");
  const end = hash === -1 ? url.length : hash;
  const q = url.indexOf("?");
  if (q === -1 || q > end) return url;
  const query = url.slice(q + 1, end);
  if (query === "") return url;
  const parts = query.split("&").map((part, index) => {
    const eq = part.indexOf("=");
    if (eq === -1) return part;
    const value = part.slice(eq + 1);
    return `${part.slice(0, eq + 1)}${fn(value, part.slice(0, eq), index)}`;
  });
  return `${url.slice(0, q + 1)}${parts.join("&")}${url.slice(end)}`;
}

/** `url` with every non-empty query value shown as {@link QUERY_MASK}: `?token=***`. */
export function maskUrlQuery(url: string): string {
  return mapQueryValues(url, (value) => (value === "" ? value : QUERY_MASK));
}

const URL_IN_TEXT = /\bhttps?:\/\/[^\s"'<>]+/gi;

/** `text` (an error message, say) with the query values of every http(s) URL in it masked. */
export function maskUrlsInText(text: string): string {
  return text.includes("://") ? text.replace(URL_IN_TEXT, maskUrlQuery) : text;
}

/**
 * `next` with each query value sent as {@link QUERY_MASK} (as a GET shows it) replaced by the value
 * of the same name in `previous`, so a GET-edit-PUT round trip keeps the stored values.
 */
export function restoreMaskedQuery(next: string, previous: string): string {
  const stored = new Map<string, string>();
  mapQueryValues(previous, (value, name) => {
    if (!stored.has(name)) stored.set(name, value);
    return value;
  });
  return mapQueryValues(next, (value, name) => (value === QUERY_MASK ? (stored.get(name) ?? value) : value));
}
