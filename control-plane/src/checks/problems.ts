import { ValidationError } from "../errors.js";

/** One thing wrong with an input, named by its dotted field path (e.g. "http.url"). */
export interface Problem {
  field: string;
  message: string;
}

/** Collects every problem of one input so that the caller sees all of them at once. */
export class Problems {
  readonly list: Problem[] = [];

  /** Records a problem with `field`. */
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }

  /** Throws {@link Problems.error} when there are any problems. */
  throwIfAny(what: string): void {
    const err = this.error(what);
    if (err) throw err;
  }

  /** A ValidationError naming the first field and listing all problems; undefined when there are none. */
  error(what: string): ValidationError | undefined {
    const first = this.list[0];
    if (!first) return undefined;
    const more =
      this.list.length > 1 ? ` (and ${this.list.length - 1} more problem${this.list.length > 2 ? "s" : ""})` : "";
    return new ValidationError(`invalid ${what}: ${first.field}: ${first.message}${more}`, {
      field: first.field,
      problems: this.list,
    });
  }
}

/** Joins a parent path and a key into a dotted field path. */
export function fieldPath(prefix: string, key: string): string {
  return prefix === "" ? key : `${prefix}.${key}`;
}
