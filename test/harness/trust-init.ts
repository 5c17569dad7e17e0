import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONTROL_PLANE_BIN } from "./bins.js";

/**
 * Set by the integration project's global setup (test/harness/global-setup.ts): a temp dir where what
 * `init` wrote is kept, so that one test run generates each kind of trust material once.
 */
export const TRUST_CACHE_ENV = "PROBEMESH_TEST_TRUST_CACHE";

/** Runs the built `probemesh-control-plane init --dir <dir> <args>` without blocking the event loop. */
function runInit(dir: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CONTROL_PLANE_BIN, "init", "--dir", dir, ...args],
      { encoding: "utf8" },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`probemesh-control-plane init ${args.join(" ")} failed:\n${stdout}${stderr}`))
          : resolve(),
    );
  });
}

/**
 * Fills `dir` with what `probemesh-control-plane init --dir <dir> <args>` writes (CA, certificates,
 * NATS operator, accounts and users, control-plane.env). With a cache (the integration project's global
 * setup) the first call with these `args` runs init and later ones copy its output, rewriting its
 * absolute paths to `dir`: the files are what init writes for `dir`, only the keys are shared by
 * the test run's servers (each still runs alone on its own copy). Without one, it runs init.
 */
export async function initTrust(dir: string, args: readonly string[]): Promise<void> {
  const cache = process.env[TRUST_CACHE_ENV];
  if (!cache || !existsSync(cache)) return runInit(dir, args);
  const key = createHash("sha256")
    .update(JSON.stringify([CONTROL_PLANE_BIN, ...args]))
    .digest("hex")
    .slice(0, 16);
  const entry = join(cache, key);
  if (!existsSync(join(entry, "origin"))) {
    const staging = mkdtempSync(join(cache, `${key}-`));
    await runInit(join(staging, "trust"), args);
    writeFileSync(join(staging, "origin"), join(staging, "trust"));
    try {
      renameSync(staging, entry);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another file cached the same arguments first
    }
  }
  const origin = readFileSync(join(entry, "origin"), "utf8");
  cpSync(join(entry, "trust"), dir, { recursive: true });
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const text = readFileSync(path, "utf8");
    if (text.includes(origin)) writeFileSync(path, text.replaceAll(origin, dir));
  }
}
