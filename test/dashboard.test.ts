// The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core (nothing
// downloaded), against a secure mesh (HTTPS API with the test CA, tokens). It logs in with a read
// token, sees every demo check up, sees a check turn down without a reload when its target fails,
// reaches a check by keyboard alone and charts its latency over 24h from the rollups, sees the agents
// and the hook's deliveries with that read token, and fits a phone's width. Screenshots go to a temp
// dir (printed).
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, waitFor, type Mesh } from "./harness/mesh.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";
import { startReceiver, type Receiver } from "./hooks/receiver.js";

// page.evaluate takes browser code as strings: this program is typed for Node, not the DOM.
const REGIONS = ["eu-west", "us-east", "ap-south"] as const;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

describe("dashboard in chromium against a secure mesh", () => {
  let mesh: Mesh;
  let target: FlipTarget;
  let steady: FlipTarget;
  let receiver: Receiver;
  let browser: Browser;
  let page: Page;
  let out = "";
  let readToken = "";
  let adminToken = "";

  const shot = (name: string) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  const rowState = (id: string) => page.getAttribute(`tr[data-check="${id}"]`, "data-state");

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), "probemesh-dashboard-test-"));
    console.log(`dashboard screenshots: ${out}`);
    [target, steady, receiver] = await Promise.all([startFlipTarget(), startFlipTarget(), startReceiver()]);
    mesh = await startMesh({ regions: REGIONS });
    const cp = mesh.cp;
    const hook = await cp.request("/v1/hooks", {
      method: "POST",
      body: JSON.stringify({
        id: "pager",
        type: "webhook",
        url: receiver.url,
        events: ["outage.opened"],
        checks: ["demo-web"],
      }),
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
    const token = await cp.request("/v1/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "dashboard", scopes: ["read"] }),
    });
    expect(token.status).toBe(201);
    readToken = ((await token.json()) as { token: string }).token;
    const admin = await cp.request("/v1/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "dashboard-admin", scopes: ["admin"] }),
    });
    adminToken = ((await admin.json()) as { token: string }).token;
    // The demo checks of deploy/up.sh, at a 1 s interval: two HTTP checks on the target the test
    // flips, one TCP check on another.
    const checks = [
      { id: "demo-web", type: "http", http: { url: `http://127.0.0.1:${target.port}/` }, labels: { team: "web" } },
      { id: "demo-health", type: "http", http: { url: `http://127.0.0.1:${target.port}/health`, bodyContains: "ok" } },
      { id: "demo-tcp", type: "tcp", tcp: { host: "127.0.0.1", port: steady.port }, labels: { team: "infra" } },
    ];
    for (const c of checks) {
      const res = await cp.request("/v1/checks", {
        method: "POST",
        body: JSON.stringify({ intervalMs: 1000, timeoutMs: 500, ...c }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    await waitFor(
      "every demo check up",
      async () => {
        const states = await Promise.all(
          checks.map(
            async (c) => ((await (await cp.request(`/v1/checks/${c.id}/status`)).json()) as { state: string }).state,
          ),
        );
        return states.every((s) => s === "up");
      },
      60_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${mesh.diagnostics()}`);
    });

    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    // A new context is a fresh profile; the mesh's certificate comes from the test's private CA.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await mesh?.dispose();
    target?.close();
    steady?.close();
    await receiver?.close();
  });

  it("serves the app at / with its CSP and no token, and logs in with a read token", async () => {
    const res = await page.goto(`${mesh.cp.api}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toMatch(/^default-src 'self'/);
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.getByLabel("API token (read scope)").fill("not-a-token");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/unknown token/);
    await page.getByLabel("API token (read scope)").fill(readToken);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForSelector('tr[data-check="demo-tcp"]');
    expect(await page.evaluate<string | null>('sessionStorage.getItem("probemesh.token")')).toBe(readToken);
    // Live through GET /v1/events (EventSource with ?token=).
    await page.waitForSelector('[data-live="live"]', { timeout: 15_000 });
    expect(violations).toEqual([]);
  });

  it("shows every demo check up in every region", async () => {
    // The checks were up through the API before the browser opened, but a loaded CI machine once showed
    // a row `unknown` at this point (cause not seen: results staler than 2 intervals + the timeout, or
    // a status the owner did not give in time, both read `unknown`). The view follows the verdict
    // live: wait for every row to read up, and on failure print what the API says and why.
    for (const id of ["demo-health", "demo-tcp", "demo-web"]) {
      const regionStates = async () =>
        Promise.all(
          REGIONS.map((r) => page.getAttribute(`tr[data-check="${id}"] td[data-region="${r}"]`, "data-state")),
        );
      await expect
        .poll(async () => [await rowState(id), ...(await regionStates())].join(","), { timeout: 15_000 })
        .toBe(["up", ...REGIONS.map(() => "up")].join(","))
        .catch(async (err: unknown) => {
          const status = await (await mesh.cp.request(`/v1/checks/${id}/status`)).text();
          throw new Error(`${String(err)}\nthe API's status of ${id}: ${status}\n${mesh.diagnostics()}`);
        });
    }
    expect(await page.locator("tr[data-check]").count()).toBe(3);
    await expect.poll(() => page.locator(".incidents").textContent()).toMatch(/No open incident/);
    await shot("overview-up-1280");
  });

  it("turns a check's row red within 5 s of its target failing, without a reload", async () => {
    await page.evaluate("window.notReloaded = true");
    const flippedAt = Date.now();
    target.healthy = false;
    await page.waitForSelector('tr[data-check="demo-web"][data-state="down"]', { timeout: 5_000 });
    const seenAfterMs = Date.now() - flippedAt;
    console.log(`dashboard: demo-web shown down ${seenAfterMs} ms after its target failed`);
    const badge = page.locator('tr[data-check="demo-web"] td .badge').first();
    expect(await badge.textContent()).toMatch(/down/);
    const colour = await page.evaluate<string>(
      `getComputedStyle(document.querySelector('tr[data-check="demo-web"] td .badge')).backgroundColor`,
    );
    const [r, g, b] = colour.match(/\d+/g)!.map(Number);
    expect(r! > g! && r! > b!).toBe(true); // red, besides the icon and the word
    expect(await page.evaluate<boolean | undefined>("window.notReloaded")).toBe(true);
    await expect.poll(() => rowState("demo-tcp"), { timeout: 10_000 }).toBe("up");
    await page.waitForSelector('[data-incident="demo-web"]', { timeout: 10_000 });
    await shot("overview-down-1280");
    // The README's picture (control-plane/docs/dashboard.png): the overview down to its last row.
    const height = await page.evaluate<number>(
      'Math.ceil(document.querySelector("main").getBoundingClientRect().bottom)',
    );
    await page.screenshot({ path: join(out, "dashboard.png"), clip: { x: 0, y: 0, width: 1280, height } });
  });

  it("reaches a check's view by keyboard alone, with a visible focus", async () => {
    await page.goto(`${mesh.cp.api}/#/`);
    await page.waitForSelector('tr[data-check="demo-web"]');
    let focused = "";
    for (let i = 0; i < 40 && focused !== "#/check/demo-web"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate<string>('document.activeElement?.getAttribute("href") ?? ""');
    }
    expect(focused).toBe("#/check/demo-web");
    const outline = await page.evaluate<string>("getComputedStyle(document.activeElement).outlineStyle");
    expect(outline).not.toBe("none");
    await page.keyboard.press("Enter");
    await page.waitForSelector('[data-check-view="demo-web"]');
    for (const region of REGIONS) await page.waitForSelector(`#evidence-h ~ * tr[data-region="${region}"]`);
    await page.waitForSelector(".chart canvas", { timeout: 15_000 });
    await expect.poll(() => page.locator("#results-h ~ *").textContent(), { timeout: 10_000 }).toMatch(/http_status/);
    await shot("check-1280");
  });

  it("switches the check's latency chart to 24h, drawn from the rollups", async () => {
    expect(await page.getAttribute('[data-range="1h"]', "aria-pressed")).toBe("true");
    const answer = page.waitForResponse((r) => r.url().endsWith("/v1/checks/demo-web/latency?window=24h"));
    await page.click('[data-range="24h"]');
    expect(await page.getAttribute('[data-range="24h"]', "aria-pressed")).toBe("true");
    const latency = (await (await answer).json()) as { bucketMs: number; buckets: { at: number; region: string }[] };
    // The rollups (ClickHouse) already hold the test's results, in 5-minute buckets of every region.
    expect(latency.bucketMs).toBe(300_000);
    expect(new Set(latency.buckets.map((b) => b.region))).toEqual(new Set(REGIONS));
    // The chart draws those buckets, not the raw results of the last hour.
    const chart = page.locator('.chart[aria-label^="Latency over 24h"]');
    await chart.locator("canvas").waitFor({ timeout: 15_000 });
    expect(Number(await chart.getAttribute("data-points"))).toBe(new Set(latency.buckets.map((b) => b.at)).size);
    expect(await chart.getAttribute("aria-label")).toContain("ap-south, eu-west, us-east");
    await shot("check-24h-1280");
  });

  it("with the read token, lists the agents and every hook's deliveries, the transition's included", async () => {
    await page.getByRole("link", { name: "Agents" }).click();
    for (const region of REGIONS)
      await expect
        .poll(() => page.locator(`tr[data-agent="agent-${region}"]`).textContent(), { timeout: 15_000 })
        .toMatch(new RegExp(`${region}.*✓ connected`));
    expect(await page.locator("tr[data-agent]").count()).toBe(REGIONS.length);
    await page.getByRole("link", { name: "Hooks" }).click();
    await expect
      .poll(() => page.locator('section[aria-label="delivery log"]').textContent(), { timeout: 20_000 })
      .toMatch(/pager.*webhook.*outage\.opened.*demo-web.*✓ delivered/);
    // The read log never shows where a hook delivers.
    expect(await page.locator("main").textContent()).not.toContain(receiver.url);
    await shot("hooks-read-1280");
  });

  it("with an admin token, lists the agents and the hook's delivery log", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("API token (read scope)").fill(adminToken);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("link", { name: "Agents" }).click();
    for (const region of REGIONS)
      await expect
        .poll(() => page.locator(`tr[data-agent="agent-${region}"]`).textContent(), { timeout: 15_000 })
        .toMatch(new RegExp(`${region}.*✓ connected`));
    await shot("agents-1280");
    await page.getByRole("link", { name: "Hooks" }).click();
    await expect
      .poll(() => page.locator('section[aria-label="hook pager"]').textContent(), { timeout: 20_000 })
      .toMatch(/outage\.opened.*demo-web.*✓ delivered/);
    await shot("hooks-1280");
  });

  it("fits a phone's width (390 px) without horizontal scrolling", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ["#/", "#/check/demo-web", "#/agents", "#/hooks"]) {
      await page.goto(`${mesh.cp.api}/${hash}`);
      await page.waitForSelector("main h1");
      await page.waitForTimeout(500);
      const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
      expect(overflow, hash).toBeLessThanOrEqual(0);
      await shot(`phone-${hash.replace(/[#/]/g, "") || "overview"}`);
    }
  });
});
