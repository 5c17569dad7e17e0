import { stringify } from "yaml";
import { isObject, type Json } from "./mesh-file.js";

/** Output formats of `get` and `status`. */
export const FORMATS = ["table", "json", "yaml"] as const;
export type Format = (typeof FORMATS)[number];

function cell(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (Array.isArray(v)) return v.map(cell).join(",");
  if (isObject(v))
    return Object.entries(v)
      .map(([k, x]) => `${k}=${cell(x)}`)
      .join(",");
  return String(v);
}

/** A plain-text table: one header row, columns padded to their widest cell. */
export function table(rows: readonly Json[], columns: readonly string[]): string {
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return (
    cells
      .map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

/** `value` in `format` (a table shows `columns` of each row of a list). */
export function render(value: unknown, format: Format, columns: readonly string[]): string {
  if (format === "json") return JSON.stringify(value, null, 2) + "\n";
  if (format === "yaml") return stringify(value, { lineWidth: 0 });
  const rows = Array.isArray(value) ? (value as Json[]) : [value as Json];
  return table(rows, columns);
}
