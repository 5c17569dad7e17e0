import { join } from "node:path";

const repo = join(import.meta.dirname, "..", "..");

/** Built entry points of the two programs (the test command builds them first). */
export const CONTROL_PLANE_BIN = join(repo, "control-plane", "dist", "main.js");
export const AGENT_BIN = join(repo, "agent", "dist", "main.js");
