// `probemesh status` and `probemesh events` against a real, secure mesh: the aggregate status, a
// label-filtered stream that gets one team's check and nothing of another's, and a followed event
// stream that sees a check go down and up, across a restart of the control plane (the CLI
// reconnects with Last-Event-ID and prints no event twice). Each follower is waited for until it
// says it follows the stream: a flip before that is, by design, not its to see.
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
  let other: FlipTarget;
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

  /** `probemesh <args>` left running; `following()` resolves once it says it follows the stream. */
  const follow = (args: string[]) => {
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const parsed = (): Line[] =>
      stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Line);
    return {
      following: () => waitFor(`${args.join(" ")}: following`, () => stderr.includes("events: following"), 60_000, 100),
      lines: parsed,
      explain: (e: unknown): never => {
        throw new Error(
          `${String(e)}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}\n${mesh.diagnostics(12000)}`,
        );
      },
      stop: () => void child.kill("SIGTERM"),
    };
  };

  beforeAll(async () => {
    [target, other] = await Promise.all([startFlipTarget(), startFlipTarget()]);
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
      `checks:\n${[
        ["web", target],
        ["api", other],
      ]
        .map(
          ([id, t]) =>
            `  - id: ${String(id)}\n    type: http\n    labels: { team: ${String(id)} }\n    intervalMs: 1000\n    timeoutMs: 500\n    failureThreshold: 1\n    recoveryThreshold: 1\n    http: { url: "http://127.0.0.1:${(t as FlipTarget).port}/" }\n`,
        )
        .join("")}`,
    );
    const applied = await cli(["apply", "-f", path]);
    expect(applied.code, applied.stderr).toBe(0);
  });

  afterAll(async () => {
    follower?.kill("SIGTERM");
    await mesh?.dispose();
    target?.close();
    other?.close();
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
    const checks = (JSON.parse(json.stdout) as { checks: { checkId: string; state: string }[] }).checks;
    expect(checks.map((c) => c.checkId)).toEqual(["api", "web"]);
    await waitFor("api up in /v1/status", async () => /^api\s+up/m.test((await cli(["status"])).stdout), 60_000, 1000);
  });

  it("events --label team=web prints web's events and nothing of api's", async () => {
    const labelled = follow(["events", "--label", "team=web", "-o", "json"]);
    try {
      await labelled.following();
      // api goes down first: its events are in the stream before web's, so the follower has had
      // them (and must have dropped them) once web's arrive.
      other.healthy = false;
      await waitFor("api down", async () => /^api\s+down/m.test((await cli(["status"])).stdout), 60_000, 500);
      target.healthy = false;
      await waitFor(
        "web's status down and its transition",
        () => {
          const ls = labelled.lines();
          return (
            ls.some((l) => l.event === "status" && l.data.checkId === "web" && l.data.state === "down") &&
            ls.some((l) => l.event === "transition" && l.data.checkId === "web")
          );
        },
        60_000,
        200,
      ).catch(labelled.explain);
      target.healthy = true;
      other.healthy = true;
      await waitFor(
        "web's status up",
        () => labelled.lines().some((l) => l.event === "status" && l.data.checkId === "web" && l.data.state === "up"),
        60_000,
        200,
      ).catch(labelled.explain);
      await waitFor("api up", async () => /^api\s+up/m.test((await cli(["status"])).stdout), 60_000, 500);
      expect(labelled.lines().filter((l) => l.data.checkId !== "web")).toEqual([]);
    } finally {
      labelled.stop();
    }
  });

  it("events follows transitions and status changes, across a control-plane restart", async () => {
    follower = spawn(process.execPath, [CLI, "events", "-o", "json"], { env });
    follower.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    follower.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    const seen = (state: string) => () =>
      lines().some((l) => l.event === "status" && l.data.checkId === "web" && l.data.state === state);
    // Flipped only once the CLI says it follows the stream (a flip before that it would not see).
    await waitFor("events: following", () => err.includes("events: following"), 60_000, 100);
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
