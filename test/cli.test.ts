// The `probemesh` CLI end to end: the built bin against a real, secure mesh (HTTPS with a private
// CA, scoped tokens): apply, idempotence, dry run, prune, export round trip, If-Match conflicts,
// secrets from the environment (never printed, never exported), get and status.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startMesh, waitFor, type Mesh } from "./harness/mesh.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";

const CLI = join(import.meta.dirname, "..", "control-plane", "dist", "cli", "main.js");
const WEB_TOKEN = `web-secret-${randomBytes(6).toString("hex")}`;
const HOOK_SECRET = `whsec_${randomBytes(32).toString("base64")}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("probemesh CLI against a real mesh", () => {
  let mesh: Mesh;
  let target: FlipTarget;
  let dir: string;
  let env: Record<string, string>;
  const runs: Run[] = [];
  let token = API_TOKEN;

  const cli = (args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<Run> =>
    new Promise((resolve) => {
      const childEnv = { ...process.env, ...env, ...extraEnv };
      for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
      execFile(process.execPath, [CLI, ...args], { env: childEnv, timeout: 60_000 }, (err, stdout, stderr) => {
        const run = { code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr };
        runs.push(run);
        resolve(run);
      });
    });
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const mesh1 = (name: string, withTcp = true) => `
apiVersion: probemesh/v1
checks:
  - id: web
    type: http
    name: ${name}
    description: the flip target
    labels: { team: web }
    intervalMs: 2000
    timeoutMs: 1000
    http:
      url: http://127.0.0.1:${target.port}/
      headers: { Authorization: "Bearer \${env:WEB_TOKEN}" }
${
  withTcp
    ? `  - id: tcp
    type: tcp
    labels: { team: infra }
    intervalMs: 5000
    timeoutMs: 1000
    tcp: { host: 127.0.0.1, port: { fromEnv: TARGET_PORT, as: number } }
`
    : ""
}hooks:
  - id: ops
    type: webhook
    url: http://127.0.0.1:9/hooks
    secret: { fromEnv: HOOK_SECRET }
    selector: { team: web }
maintenance:
  - id: upgrade
    checks: [web]
    from: 2030-01-06T02:00:00Z
    to: 2030-01-06T03:00:00Z
`;

  beforeAll(async () => {
    target = await startFlipTarget();
    mesh = await startMesh({ regions: ["eu-west"] });
    // The secure mesh's control plane runs with the admin token `init` wrote.
    token = mesh.secureNats?.env.PROBEMESH_API_TOKEN ?? API_TOKEN;
    dir = await mkdtemp(join(tmpdir(), "probemesh-cli-"));
    env = {
      PROBEMESH_URL: mesh.cp.api,
      PROBEMESH_TOKEN: token,
      PROBEMESH_CA_FILE: mesh.secureNats!.caFile,
      WEB_TOKEN,
      HOOK_SECRET,
      TARGET_PORT: String(target.port),
    };
  });

  afterAll(async () => {
    await mesh?.dispose();
    target?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const checkIds = async () =>
    ((await (await mesh.cp.request("/v1/checks")).json()) as { id: string }[]).map((c) => c.id);

  it("--dry-run prints the plan and changes nothing", async () => {
    const path = await file("mesh.yaml", mesh1("Web"));
    const run = await cli(["apply", "-f", path, "--dry-run"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("+ check web");
    expect(run.stdout).toContain("+ check tcp");
    expect(run.stdout).toContain("+ hook ops");
    expect(run.stdout).toContain("+ maintenance window upgrade");
    expect(run.stdout).toContain("dry run: 4 to create, 0 to update, 0 to delete (nothing written)");
    expect(await checkIds()).toEqual([]);
  });

  it("apply creates everything; a second apply is an empty diff", async () => {
    const path = await file("mesh.yaml", mesh1("Web"));
    const first = await cli(["apply", "-f", path]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("applied: 4 to create, 0 to update, 0 to delete");
    expect(await checkIds()).toEqual(["tcp", "web"]);
    const web = (await (await mesh.cp.request("/v1/checks/web")).json()) as Record<string, unknown>;
    expect(web).toMatchObject({ name: "Web", description: "the flip target", labels: { team: "web" } });
    const hook = (await (await mesh.cp.request("/v1/hooks/ops")).json()) as Record<string, unknown>;
    expect(hook).toMatchObject({ selector: { team: "web" }, checks: [] });
    const second = await cli(["apply", "-f", path]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe("no changes: the mesh already matches the file");
  });

  it("an update prints the changed field; the env reference, never the secret", async () => {
    const path = await file(
      "mesh.yaml",
      mesh1("Web front").replace("Bearer ${env:WEB_TOKEN}", "Token ${env:WEB_TOKEN}"),
    );
    const run = await cli(["apply", "-f", path]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("~ check web");
    expect(run.stdout).toContain('    name: "Web" → "Web front"');
    expect(run.stdout).toContain("applied: 0 to create, 1 to update, 0 to delete");
    expect(((await (await mesh.cp.request("/v1/checks/web")).json()) as { name: string }).name).toBe("Web front");
  });

  it("a referenced variable that is not set is a clear error, and nothing is written", async () => {
    const path = await file("mesh.yaml", mesh1("Unset"));
    const run = await cli(["apply", "-f", path], { WEB_TOKEN: undefined });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("environment variable WEB_TOKEN is not set");
    expect(((await (await mesh.cp.request("/v1/checks/web")).json()) as { name: string }).name).toBe("Web front");
  });

  it("export holds env references, no secret; applying it back is an empty diff", async () => {
    const run = await cli(["export"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toContain(WEB_TOKEN);
    expect(run.stdout).not.toContain(HOOK_SECRET.slice(6));
    expect(run.stdout).not.toContain("***");
    expect(run.stdout).toContain("fromEnv: OPS_SECRET");
    expect(run.stdout).toContain("fromEnv: WEB_HTTP_HEADERS_AUTHORIZATION");
    expect(run.stdout).toContain("from: 2030-01-06T02:00:00.000Z");
    const path = await file("exported.yaml", run.stdout);
    const back = await cli(["apply", "-f", path, "--prune"], {
      OPS_SECRET: HOOK_SECRET,
      WEB_HTTP_HEADERS_AUTHORIZATION: `Token ${WEB_TOKEN}`,
    });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout.trim()).toBe("no changes: the mesh already matches the file");
  });

  it("--prune deletes what the file no longer names", async () => {
    const path = await file("mesh.yaml", mesh1("Web front", false).replace("Bearer", "Token"));
    const run = await cli(["apply", "-f", path, "--prune"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("- check tcp");
    expect(run.stdout).toContain("applied: 0 to create, 0 to update, 1 to delete");
    expect(await checkIds()).toEqual(["web"]);
  });

  it("a write whose If-Match is stale gets 412 and a clear error", async () => {
    const etag = (await mesh.cp.request("/v1/checks/web")).headers.get("etag") ?? "";
    expect(etag).toMatch(/^"\d+"$/);
    const current = (await (await mesh.cp.request("/v1/checks/web")).json()) as Record<string, unknown>;
    const put = await mesh.cp.request("/v1/checks/web", {
      method: "PUT",
      headers: { "if-match": etag },
      body: JSON.stringify({ ...current, name: "changed by someone else" }),
    });
    expect(put.status).toBe(200);
    const late = await mesh.cp.request("/v1/checks/web", {
      method: "PUT",
      headers: { "if-match": etag },
      body: JSON.stringify({ ...current, name: "lost update" }),
    });
    expect(late.status).toBe(412);
    const run = await cli(["delete", "checks", "web", "--if-match", etag]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("changed since it was read");
    expect(run.stderr).toContain("412");
    expect(await checkIds()).toEqual(["web"]);
  });

  it("get lists checks, hooks, maintenance and agents; status shows a check's verdict", async () => {
    const checks = await cli(["get", "checks", "-o", "json"]);
    expect(checks.code, checks.stderr).toBe(0);
    expect((JSON.parse(checks.stdout) as { id: string }[]).map((c) => c.id)).toEqual(["web"]);
    const hooks = await cli(["get", "hooks"]);
    expect(hooks.stdout).toMatch(/^ID\s+TYPE\s+CHECKS\s+SELECTOR/);
    expect(hooks.stdout).toContain("team=web");
    const windows = await cli(["get", "maintenance", "-o", "yaml"]);
    expect(windows.stdout).toContain("id: upgrade");
    const agents = await cli(["get", "agents"]);
    expect(agents.stdout).toContain("agent-eu-west");
    await waitFor(
      "web up",
      async () => (await cli(["status", "web", "-o", "json"])).stdout.includes('"state": "up"'),
      60_000,
      1000,
    );
    const status = await cli(["status", "web"]);
    expect(status.stdout).toMatch(/^CHECKID\s+STATE/);
    expect(status.stdout).toMatch(/web\s+up/);
  });

  it("refused tokens, missing configuration and an untrusted certificate are clear errors", async () => {
    const refused = await cli(["get", "checks"], { PROBEMESH_TOKEN: "pmt_wrong" });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("the token was refused (401");
    const noUrl = await cli(["get", "checks"], { PROBEMESH_URL: undefined });
    expect(noUrl.code).toBe(2);
    const noCa = await cli(["get", "checks"], { PROBEMESH_CA_FILE: undefined });
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toContain("TLS error");
    expect(noCa.stderr).toContain("PROBEMESH_CA_FILE");
    const usage = await cli(["get", "widgets"]);
    expect(usage.code).toBe(2);
  });

  it("never printed the token", () => {
    for (const r of runs) {
      expect(r.stdout).not.toContain(token);
      expect(r.stderr).not.toContain(token);
    }
  });
});
