import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseEnvFile } from "./env-file.js";
import { runInitCommand } from "./init-command.js";

function capture() {
  let text = "";
  return { write: (s: string) => (text += s), text: () => text };
}

describe("probemesh-control-plane init", () => {
  it("needs --dir and --nats-listen, and rejects unknown flags (exit 2)", async () => {
    const err = capture();
    expect(await runInitCommand([], capture(), err)).toBe(2);
    expect(err.text()).toMatch(/--dir and --nats-listen are required\nusage:/);
    expect(await runInitCommand(["--dir", "x", "--nats-listen", "h:1", "--nope"], capture(), capture())).toBe(2);
    const bad = capture();
    expect(
      await runInitCommand(["--dir", "x", "--nats-listen", "h:1", "--nats-cluster", "three"], capture(), bad),
    ).toBe(2);
    expect(bad.text()).toMatch(/--nats-cluster must be a whole number/);
    const out = capture();
    expect(await runInitCommand(["--help"], out, capture())).toBe(0);
    expect(out.text()).toMatch(/^usage: probemesh-control-plane init/);
  });

  it("lists the files it wrote and where to go next, never a secret", async () => {
    const dir = mkdtempSync(join(tmpdir(), "probemesh-init-cmd-"));
    try {
      const out = capture();
      const code = await runInitCommand(
        ["--dir", dir, "--nats-listen", "127.0.0.1:4222", "--san", "a.example", "--san", "10.1.1.1"],
        out,
        capture(),
      );
      expect(code).toBe(0);
      expect(out.text()).toContain(`created ${join(dir, "ca.pem")}`);
      expect(out.text()).toContain(`nats-server -c ${join(dir, "nats", "nats-server.conf")}`);
      const env = parseEnvFile(readFileSync(join(dir, "control-plane.env"), "utf8"));
      const secrets = [
        env.get("PROBEMESH_SECRET_KEY"),
        env.get("PROBEMESH_API_TOKEN"),
        readFileSync(join(dir, "nats-signing-key.nk"), "utf8").trim(),
      ];
      for (const secret of secrets) {
        expect(secret).toBeTruthy();
        expect(out.text()).not.toContain(secret);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
