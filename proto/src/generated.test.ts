import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const protoDir = join(import.meta.dirname, "..");

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("generated code", () => {
  it("is what buf generate produces from the .proto sources", () => {
    const out = mkdtempSync(join(tmpdir(), "probemesh-gen-"));
    try {
      cpSync(join(protoDir, "probemesh"), join(out, "probemesh"), { recursive: true });
      cpSync(join(protoDir, "buf.yaml"), join(out, "buf.yaml"));
      cpSync(join(protoDir, "buf.gen.yaml"), join(out, "buf.gen.yaml"));
      const buf = join(protoDir, "node_modules", ".bin", "buf");
      execFileSync(buf, ["generate"], {
        cwd: out,
        env: { ...process.env, PATH: `${join(protoDir, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
      });
      const committed = join(protoDir, "src", "gen");
      const fresh = join(out, "src", "gen");
      expect(listFiles(fresh)).toEqual(listFiles(committed));
      for (const file of listFiles(committed)) {
        expect(readFileSync(join(fresh, file), "utf8"), `${file} is stale: run pnpm generate`).toBe(
          readFileSync(join(committed, file), "utf8"),
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("passes buf lint", () => {
    const buf = join(protoDir, "node_modules", ".bin", "buf");
    expect(() => execFileSync(buf, ["lint"], { cwd: protoDir, stdio: "pipe" })).not.toThrow();
  });
});
