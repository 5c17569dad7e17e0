import type { Check } from "@probemesh/proto";
import { checkRunnableBy } from "./check-record.js";

/** An advisory about an accepted check: it is stored and assigned, but may not decide as meant. */
export interface CheckWarning {
  /** The field it is about, as problems name fields (e.g. "regions[1]", "quorum"). */
  field: string;
  message: string;
}

/** What the mesh knows of one agent: where it runs and which check types it announced. */
export interface KnownAgent {
  region: string;
  capabilities: readonly string[];
}

/** Largest edit distance at which a known region is offered as "did you mean". */
const MAX_SUGGESTION_DISTANCE = 2;

/**
 * Warnings for a check given the agents the mesh knows: a listed region no agent has registered
 * for (with the nearest known region as a suggestion), a listed region whose agents cannot run the
 * check's type, and a numeric quorum larger than the regions that can run it (no verdict until
 * more do). Empty when the mesh can run the check as written.
 */
export function regionWarnings(check: Check, agents: readonly KnownAgent[]): CheckWarning[] {
  const warnings: CheckWarning[] = [];
  const known = new Set(agents.map((a) => a.region));
  const capable = new Set(agents.filter((a) => checkRunnableBy(check, a)).map((a) => a.region));
  check.regions.forEach((region, i) => {
    const field = `regions[${i}]`;
    if (!known.has(region)) {
      const guess = closest(region, [...known]);
      const hint = guess === undefined ? "" : `; did you mean ${JSON.stringify(guess)}?`;
      warnings.push({ field, message: `no agent has registered for region ${JSON.stringify(region)}${hint}` });
    } else if (!capable.has(region)) {
      warnings.push({
        field,
        message: `no agent in region ${JSON.stringify(region)} can run ${check.type} checks; the region abstains until one can`,
      });
    }
  });
  if (/^[0-9]+$/.test(check.quorum)) {
    const needed = Number(check.quorum);
    const able = check.regions.length === 0 ? capable.size : check.regions.filter((r) => capable.has(r)).length;
    if (needed > able) {
      const have = able === 1 ? "1 region has" : `${able} regions have`;
      warnings.push({
        field: "quorum",
        message: `needs ${needed} regions but ${have} an agent that can run ${check.type} checks; no verdict until more do`,
      });
    }
  }
  return warnings;
}

/** The candidate nearest to `word` by edit distance, when near enough to be a likely typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = MAX_SUGGESTION_DISTANCE + 1;
  for (const c of [...candidates].sort()) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit ("eu-wset"). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const up = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((up[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (up[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
