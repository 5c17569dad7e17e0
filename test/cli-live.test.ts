// `probemesh status` and `probemesh events` against a real, secure mesh: the aggregate status, and
// a followed event stream that sees a check go down and up, across a restart of the control plane
// (the CLI reconnects with Last-Event-ID and prints no event twice).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_TOKEN, startMesh, waitFor, type Mesh } from "./harness/mesh.js";
import { startFlipTarget, type FlipTarget } from "./harness/targets.js";

const CLI = join(import.meta.dirname, "..", "control-plane", "dist", "cli", "main.js");

interface Line {
  id: string;
  event: string;
  data: { checkId?: string; state?: string };
}

describe("probemesh status and events, live", () => {
  let mesh: Mesh;
  let target: FlipTarget;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let follower: ChildProcess | undefined;
  let out = "";
  let err = "";

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, ...args], { env, timeout: 60_000 }, (e, stdout, stderr) =>
        resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr }),
      ),
    );
  const lines = (): Line[] =>
    out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Line);

  beforeAll(async () => {
    target = await startFlipTarget();
    mesh = await startMesh({ regions: ["eu-west"] });
    dir = await mkdtemp(join(tmpdir(), "probemesh-cli-live-"));
    env = {
      ...process.env,
      PROBEMESH_URL: mesh.cp.api,
      PROBEMESH_TOKEN: mesh.secureNats?.env.PROBEMESH_API_TOKEN ?? API_TOKEN,
      PROBEMESH_CA_FILE: mesh.secureNats!.caFile,
    };
    const path = join(dir, "mesh.yaml");
    await writeFile(
      path,
      `checks:\n  - id: web\n    type: http\n    labels: { team: web }\n    intervalMs: 1000\n    timeoutMs: 500\n    failureThreshold: 1\n    recoveryThreshold: 1\n    http: { url: "http://127.0.0.1:${target.port}/" }\n`,
    );
    const applied = await cli(["apply", "-f", path]);
    expect(applied.code, applied.stderr).toBe(0);
  });

  afterAll(async () => {
    follower?.kill("SIGTERM");
    await mesh?.dispose();
    target?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("status lists every check with its verdict", async () => {
    await waitFor(
      "web up in /v1/status",
      async () => / web\s+up|^web\s+up/m.test((await cli(["status"])).stdout),
      60_000,
      1000,
    );
    const json = await cli(["status", "-o", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ checks: [{ checkId: "web", state: "up" }] });
  });

  it("events follows transitions and status changes, across a control-plane restart", async () => {
    follower = spawn(process.execPath, [CLI, "events", "-o", "json"], { env });
    follower.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    follower.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    const seen = (state: string) => () =>
      lines().some((l) => l.event === "status" && l.data.checkId === "web" && l.data.state === state);
    // Connected once a heartbeat or event could come; give it a moment to subscribe.
    await new Promise((r) => setTimeout(r, 2000));
    target.healthy = false;
    await waitFor("status event web down", seen("down"), 60_000, 200).catch((e: unknown) => {
      throw new Error(
        `${String(e)}\n--- events stdout ---\n${out}\n--- stderr ---\n${err}\n${mesh.diagnostics(12000)}`,
      );
    });
    // A transition carries the hook event envelope (check id in `data.data` as hooks get it, or at its top).
    const transitionOf = (l: Line) => {
      const d = l.data as { checkId?: string; data?: { checkId?: string } };
      return d.checkId ?? d.data?.checkId;
    };
    await waitFor(
      "transition event of web",
      () => lines().some((l) => l.event === "transition" && transitionOf(l) === "web"),
      30_000,
      200,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}\n--- events stdout ---\n${out}\n--- stderr ---\n${err}`);
    });

    await mesh.restartReplica(0);
    target.healthy = true;
    await waitFor(
      "outage.resolved of web after the restart",
      () =>
        lines().some(
          (l) =>
            l.event === "transition" &&
            transitionOf(l) === "web" &&
            (l.data as { type?: string }).type === "outage.resolved",
        ),
      90_000,
      200,
    ).catch((e: unknown) => {
      throw new Error(
        `${String(e)}\n--- events stdout ---\n${out}\n--- stderr ---\n${err}\n${mesh.diagnostics(12000)}`,
      );
    });
    expect(err).toContain("reconnecting");
    const ids = lines().map((l) => l.id);
    expect(new Set(ids).size).toBe(ids.length);

    follower.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => follower!.once("exit", r));
    expect(code).toBe(0);
  });
});
