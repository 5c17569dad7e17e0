import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TRUST_CACHE_ENV } from "./trust-init.js";

/** The integration project's global setup: a trust-material cache for the run (see `initTrust`), removed at the end. */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "probemesh-trust-cache-"));
  process.env[TRUST_CACHE_ENV] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
