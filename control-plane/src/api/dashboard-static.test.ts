import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_CSP, dashboardStatic } from "./dashboard-static.js";

function appFor(dir: string) {
  const app = new Hono();
  const dashboard = dashboardStatic({ dir });
  app.use("/", dashboard);
  app.use("/assets/*", dashboard);
  app.get("/v1/checks", (c) => c.json([]));
  app.notFound((c) => c.json({ error: { code: "not_found" } }, 404));
  return app;
}

describe("dashboardStatic", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "probemesh-dashboard-"));
    await mkdir(join(dir, "assets"));
    await writeFile(join(dir, "index.html"), '<!doctype html><script type="module" src="assets/app-AB12.js"></script>');
    await writeFile(join(dir, "assets", "app-AB12.js"), "console.log(1)");
    await writeFile(join(dir, "assets", "app-CD34.css"), "body{}");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("serves index.html at / without a token, revalidated, under a CSP without inline code", async () => {
    const res = await appFor(dir).request("/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toMatch(/^default-src 'self'/);
    expect(DASHBOARD_CSP).not.toMatch(/unsafe/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await res.text()).toContain("assets/app-AB12.js");
  });

  it("serves hashed assets with their type and a long cache, and answers 304 to their ETag", async () => {
    const app = appFor(dir);
    const js = await app.request("/assets/app-AB12.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const css = await app.request("/assets/app-CD34.css");
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
    const again = await app.request("/assets/app-AB12.js", { headers: { "if-none-match": js.headers.get("etag")! } });
    expect(again.status).toBe(304);
  });

  it("serves nothing else: unknown assets, paths outside assets/ and other methods fall through to the API", async () => {
    const app = appFor(dir);
    for (const path of ["/assets/nope.js", "/assets/..%2findex.html", "/assets/../index.html", "/index.html"])
      expect((await app.request(path)).status, path).toBe(404);
    expect((await app.request("/", { method: "POST" })).status).toBe(404);
    expect((await app.request("/v1/checks")).status).toBe(200);
  });

  it("says how to build it when the dashboard is not built", async () => {
    const res = await appFor(join(dir, "missing")).request("/");
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/pnpm build/);
  });
});
