/** A maintenance window: while it lasts, its checks' incidents are stored and shown but not announced to hooks. */
export interface MaintenanceWindow {
  /** `[a-z0-9][a-z0-9_-]{0,62}`, like hook ids (a NATS KV key as it is). */
  id: string;
  /** Check ids, or "*" for every check; [] when the window selects by `labels`. */
  checks: string[] | "*";
  /** Selects the checks whose labels include every one of these pairs (instead of `checks`). */
  labels?: Record<string, string>;
  /** Start of the first occurrence, epoch ms inclusive. */
  from: number;
  /** End of the first occurrence, epoch ms exclusive (after `from`). */
  to: number;
  /** The window recurs every `everyMs` from `from` (occurrences starting before `until`, when given). */
  repeat?: { everyMs: number; until?: number };
  description?: string;
}

/** One occurrence of a window: `[from, to)`. */
export interface MaintenanceOccurrence {
  window: MaintenanceWindow;
  from: number;
  to: number;
}

/** A check as maintenance windows select it: by id, or by id and labels. */
export type MaintenanceSubject = string | { id: string; labels?: Readonly<Record<string, string>> };
