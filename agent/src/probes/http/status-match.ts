/** One accepted status rule: an inclusive range of codes. */
interface StatusRange {
  lo: number;
  hi: number;
}

/** Parsed `expectStatus`, or the first entry that is not a status rule. */
export type StatusRules = { ok: true; ranges: StatusRange[] } | { ok: false; error: string };

/**
 * Parses accepted statuses: "200", a class "2xx", or a range "200-299". Empty means 2xx, the
 * same default as blackbox_exporter's `valid_status_codes`.
 */
export function parseExpectStatus(entries: readonly string[]): StatusRules {
  if (entries.length === 0) return { ok: true, ranges: [{ lo: 200, hi: 299 }] };
  const ranges: StatusRange[] = [];
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    let m: RegExpMatchArray | null;
    if ((m = /^([1-5])xx$/.exec(e))) {
      const base = Number(m[1]) * 100;
      ranges.push({ lo: base, hi: base + 99 });
    } else if ((m = /^(\d{3})$/.exec(e))) {
      ranges.push({ lo: Number(m[1]), hi: Number(m[1]) });
    } else if ((m = /^(\d{3})\s*-\s*(\d{3})$/.exec(e)) && Number(m[1]) <= Number(m[2])) {
      ranges.push({ lo: Number(m[1]), hi: Number(m[2]) });
    } else {
      return {
        ok: false,
        error: `expectStatus entry ${JSON.stringify(raw.slice(0, 20))} is not a status, class (2xx) or range (200-299)`,
      };
    }
  }
  return { ok: true, ranges };
}

/** True when the status falls in one of the ranges. */
export function statusAccepted(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((r) => status >= r.lo && status <= r.hi);
}
