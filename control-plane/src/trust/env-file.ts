import { readFileSync } from "node:fs";

/**
 * Parses `KEY=value` lines (the format `init` writes and systemd's EnvironmentFile and
 * `docker --env-file` read): blank lines and `#` comments are skipped, the value is everything
 * after the first `=` (no quoting, no expansion). Throws on any other line, naming its number.
 */
export function parseEnvFile(text: string, source = "env file"): Map<string, string> {
  const entries = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`${source}:${i + 1}: expected KEY=value`);
    entries.set(m[1] ?? "", m[2] ?? "");
  }
  return entries;
}

/**
 * The environment with the variables of the file at `path` added: a variable already set in
 * `env` (non-empty) wins, so one can override a single value without editing the file.
 */
export function withEnvFile(env: Record<string, string | undefined>, path: string): Record<string, string | undefined> {
  const file = parseEnvFile(readFileSync(path, "utf8"), path);
  const merged: Record<string, string | undefined> = { ...env };
  for (const [key, value] of file) {
    const current = merged[key];
    if (current === undefined || current === "") merged[key] = value;
  }
  return merged;
}

/** Renders `KEY=value` lines; values must be single-line and are written as they are. */
export function renderEnvFile(entries: Iterable<readonly [string, string]>, header?: string): string {
  const lines = header ? header.split("\n").map((l) => `# ${l}`) : [];
  for (const [key, value] of entries) {
    if (/[\r\n]/.test(value)) throw new RangeError(`${key}: a value in an env file must be one line`);
    lines.push(`${key}=${value}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The env file to read: `--env-file PATH` among the program's arguments, else PROBEMESH_ENV_FILE,
 * else none. Throws when `--env-file` has no path.
 */
export function envFilePath(args: readonly string[], env: Record<string, string | undefined>): string | undefined {
  const flag = args.indexOf("--env-file");
  if (flag >= 0) {
    const path = args[flag + 1];
    if (!path || path.startsWith("--")) throw new Error("--env-file needs a path");
    return path;
  }
  const fromEnv = env.PROBEMESH_ENV_FILE?.trim();
  return fromEnv === "" ? undefined : fromEnv;
}
