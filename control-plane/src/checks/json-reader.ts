import { fieldPath, type Problems } from "./problems.js";

/** Checks a string value; returns a problem message, or undefined when it is fine. */
export type StringRule = (value: string) => string | undefined;

/** Options of {@link JsonReader.string}. */
export interface StringOptions {
  /** Record a problem when the field is absent or empty. @default false */
  required?: boolean;
  /** Longest accepted value in characters. @default 1024 */
  max?: number;
  /** Further rule run on non-empty values. */
  rule?: StringRule;
}

/** Options of {@link JsonReader.int}. */
export interface IntOptions {
  min: number;
  max: number;
  /** Record a problem when the field is absent. @default false */
  required?: boolean;
}

/** Options of {@link JsonReader.stringList}. */
export interface StringListOptions {
  /** @default 64 */
  maxItems?: number;
  /** Longest accepted item. @default 1024 */
  maxLength?: number;
  /** Rule run on every item. */
  rule?: StringRule;
  /** Record a problem on repeated items. @default false */
  unique?: boolean;
}

/** Options of {@link JsonReader.stringMap}. */
export interface StringMapOptions {
  /** @default 64 */
  maxEntries?: number;
  /** Rule run on every key. */
  keyRule?: StringRule;
  /** Rule run on every value (messages must not echo the value: it may be a secret). */
  valueRule?: StringRule;
  /** Longest accepted value. @default 8192 */
  maxValueLength?: number;
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * Reads the fields of one JSON object strictly, recording every problem (wrong type, out of range,
 * unknown field) in a shared {@link Problems} instead of stopping at the first one. `null` counts as
 * absent, as in proto3 JSON. Accessors return undefined for absent or invalid values.
 */
export class JsonReader {
  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly prefix: string,
    private readonly problems: Problems,
    known: readonly string[],
    ignored: readonly string[] = [],
  ) {
    for (const key of Object.keys(obj)) {
      if (known.includes(key) || ignored.includes(key)) continue;
      const camel = key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
      const hint = camel !== key && known.includes(camel) ? ` (did you mean "${camel}"?)` : "";
      problems.add(this.path(key), `unknown field${hint}`);
    }
  }

  /** Dotted path of `key` in this object. */
  path(key: string): string {
    return fieldPath(this.prefix, key);
  }

  /** True when `key` is present and not null. */
  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  /** Records a problem on `key`. */
  problem(key: string, message: string): void {
    this.problems.add(this.path(key), message);
  }

  /** A string field; "" when absent and not required. */
  string(key: string, opts: StringOptions = {}): string | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null || value === "") {
      if (opts.required) {
        this.problem(key, "is required");
        return undefined;
      }
      return "";
    }
    if (typeof value !== "string") {
      this.problem(key, `must be a string, got ${describe(value)}`);
      return undefined;
    }
    const max = opts.max ?? 1024;
    if (value.length > max) {
      this.problem(key, `must be at most ${max} characters`);
      return undefined;
    }
    const message = opts.rule?.(value);
    if (message !== undefined) {
      this.problem(key, message);
      return undefined;
    }
    return value;
  }

  /** An integer field within [min, max]; undefined when absent or invalid. */
  int(key: string, opts: IntOptions): number | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) {
      if (opts.required) this.problem(key, "is required");
      return undefined;
    }
    if (typeof value !== "number" || !Number.isInteger(value)) {
      this.problem(key, `must be an integer, got ${typeof value === "number" ? String(value) : describe(value)}`);
      return undefined;
    }
    if (value < opts.min || value > opts.max) {
      this.problem(key, `must be between ${opts.min} and ${opts.max}, got ${value}`);
      return undefined;
    }
    return value;
  }

  /** A boolean field; false when absent. */
  bool(key: string): boolean | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return false;
    if (typeof value !== "boolean") {
      this.problem(key, `must be true or false, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** The raw value of `key` (for fields with several accepted types). */
  raw(key: string): unknown {
    return this.obj[key];
  }

  /** An array of strings; [] when absent. */
  stringList(key: string, opts: StringListOptions = {}): string[] | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(key, `must be an array of strings, got ${describe(value)}`);
      return undefined;
    }
    const maxItems = opts.maxItems ?? 64;
    if (value.length > maxItems) {
      this.problem(key, `must have at most ${maxItems} items`);
      return undefined;
    }
    const out: string[] = [];
    let ok = true;
    value.forEach((item: unknown, i) => {
      const field = `${this.path(key)}[${i}]`;
      if (typeof item !== "string") {
        this.problems.add(field, `must be a string, got ${describe(item)}`);
        ok = false;
        return;
      }
      if (item.length > (opts.maxLength ?? 1024)) {
        this.problems.add(field, `must be at most ${opts.maxLength ?? 1024} characters`);
        ok = false;
        return;
      }
      const message = opts.rule?.(item);
      if (message !== undefined) {
        this.problems.add(field, message);
        ok = false;
        return;
      }
      if (opts.unique && out.includes(item)) {
        this.problems.add(field, `repeats ${JSON.stringify(item)}`);
        ok = false;
        return;
      }
      out.push(item);
    });
    return ok ? out : undefined;
  }

  /** An object of string values (a proto map<string,string>); {} when absent. */
  stringMap(key: string, opts: StringMapOptions = {}): Record<string, string> | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return {};
    if (!isJsonObject(value)) {
      this.problem(key, `must be an object of strings, got ${describe(value)}`);
      return undefined;
    }
    const entries = Object.entries(value);
    const maxEntries = opts.maxEntries ?? 64;
    if (entries.length > maxEntries) {
      this.problem(key, `must have at most ${maxEntries} entries`);
      return undefined;
    }
    const out: Record<string, string> = {};
    let ok = true;
    for (const [k, v] of entries) {
      const field = `${this.path(key)}.${k}`;
      const keyMessage = opts.keyRule?.(k);
      if (keyMessage !== undefined) {
        this.problems.add(field, keyMessage);
        ok = false;
        continue;
      }
      if (typeof v !== "string") {
        this.problems.add(field, `must be a string, got ${describe(v)}`);
        ok = false;
        continue;
      }
      if (v.length > (opts.maxValueLength ?? 8192)) {
        this.problems.add(field, `must be at most ${opts.maxValueLength ?? 8192} characters`);
        ok = false;
        continue;
      }
      const valueMessage = opts.valueRule?.(v);
      if (valueMessage !== undefined) {
        this.problems.add(field, valueMessage);
        ok = false;
        continue;
      }
      out[k] = v;
    }
    return ok ? out : undefined;
  }

  /** A nested object with fields `known`, read by `read`; undefined when absent or not an object. */
  object<T>(key: string, known: readonly string[], read: (r: JsonReader) => T): T | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return undefined;
    if (!isJsonObject(value)) {
      this.problem(key, `must be an object, got ${describe(value)}`);
      return undefined;
    }
    return read(new JsonReader(value, this.path(key), this.problems, known));
  }

  /** An array of objects, each read by `read`; [] when absent. */
  objectList<T>(
    key: string,
    maxItems: number,
    known: readonly string[],
    read: (r: JsonReader) => T | undefined,
  ): T[] | undefined {
    const value = this.obj[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(key, `must be an array of objects, got ${describe(value)}`);
      return undefined;
    }
    if (value.length > maxItems) {
      this.problem(key, `must have at most ${maxItems} items`);
      return undefined;
    }
    const out: T[] = [];
    let ok = true;
    value.forEach((item: unknown, i) => {
      const field = `${this.path(key)}[${i}]`;
      if (!isJsonObject(item)) {
        this.problems.add(field, `must be an object, got ${describe(item)}`);
        ok = false;
        return;
      }
      const read1 = read(new JsonReader(item, field, this.problems, known));
      if (read1 === undefined) ok = false;
      else out.push(read1);
    });
    return ok ? out : undefined;
  }
}
