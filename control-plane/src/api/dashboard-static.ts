import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MiddlewareHandler } from "hono";

/** Where `pnpm build` puts the dashboard (control-plane/dist/dashboard, next to this built file's folder). */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL("../dashboard/", import.meta.url));

/**
 * The dashboard's Content-Security-Policy: everything from this origin only, no inline script or
 * style element, no framing.
 */
export const DASHBOARD_CSP =
  "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
  ".map": "application/json; charset=utf-8",
};

interface StaticFile {
  body: Uint8Array;
  type: string;
  etag: string;
  /** index.html is revalidated on every load; assets have content-hashed names and never change. */
  cacheControl: string;
}

/** Options of {@link dashboardStatic}. */
export interface DashboardStaticOptions {
  /** The built dashboard: index.html and assets/. @default DEFAULT_DASHBOARD_DIR */
  dir?: string;
}

/**
 * Serves the dashboard without a token (it holds no data; its data calls carry the token the user
 * types): `GET /` is index.html, `GET /assets/<file>` the bundle. Files are read once, on the first
 * request, from the build output; only those files are served (no path from the URL reaches the
 * file system). Anything else falls through to the API (so a JSON 404). Mount on "/" and "/assets/*".
 */
export function dashboardStatic(opts: DashboardStaticOptions = {}): MiddlewareHandler {
  const dir = opts.dir ?? DEFAULT_DASHBOARD_DIR;
  let files: Promise<Map<string, StaticFile>> | undefined;
  return async function dashboard(c, next) {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return next();
    const table = await (files ??= load(dir));
    const path = c.req.path === "/" ? "/index.html" : c.req.path;
    const file = table.get(path);
    if (!file) {
      if (c.req.path === "/" && table.size === 0)
        return c.text("The dashboard is not built: run `pnpm build` (it writes control-plane/dist/dashboard).", 404);
      return next();
    }
    c.header("Content-Type", file.type);
    c.header("Cache-Control", file.cacheControl);
    c.header("ETag", file.etag);
    c.header("Content-Security-Policy", DASHBOARD_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Frame-Options", "DENY");
    if (c.req.header("if-none-match") === file.etag) return c.body(null, 304);
    if (c.req.method === "HEAD") return c.body(null, 200);
    return c.body(file.body as Uint8Array<ArrayBuffer>, 200);
  };
}

/** index.html and every file under assets/, keyed by URL path; empty when the dashboard is not built. */
async function load(dir: string): Promise<Map<string, StaticFile>> {
  const table = new Map<string, StaticFile>();
  const add = async (urlPath: string, file: string, cacheControl: string) => {
    const body = await readFile(file);
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    table.set(urlPath, {
      body,
      etag,
      cacheControl,
      type: TYPES[extname(file)] ?? "application/octet-stream",
    });
  };
  const assets = await readdir(join(dir, "assets")).catch(() => [] as string[]);
  try {
    await add("/index.html", join(dir, "index.html"), "no-cache");
  } catch {
    return table;
  }
  for (const name of assets)
    await add(`/assets/${name}`, join(dir, "assets", name), "public, max-age=31536000, immutable");
  return table;
}
