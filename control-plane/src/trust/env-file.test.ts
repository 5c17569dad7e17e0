import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { envFilePath, parseEnvFile, renderEnvFile, withEnvFile } from "./env-file.js";

describe("env files", () => {
  it("parses KEY=value lines, skipping comments and blanks; the value is taken as is", () => {
    const env = parseEnvFile("# c\n\nA=1\nexport B=x=y \nC=\n");
    expect([...env]).toEqual([
      ["A", "1"],
      ["B", "x=y"],
      ["C", ""],
    ]);
    expect(() => parseEnvFile("A=1\nnot a line\n", "f")).toThrow("f:2: expected KEY=value");
  });

  it("lets a variable set in the environment win over the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "probemesh-env-"));
    try {
      const path = join(dir, "cp.env");
      writeFileSync(
        path,
        renderEnvFile(
          [
            ["A", "file"],
            ["B", "file"],
            ["C", "file"],
          ],
          "header",
        ),
      );
      expect(withEnvFile({ A: "env", B: "" }, path)).toEqual({ A: "env", B: "file", C: "file" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a multi-line value", () => {
    expect(() => renderEnvFile([["A", "1\n2"]])).toThrow(/one line/);
  });

  it("takes the file from --env-file, else PROBEMESH_ENV_FILE", () => {
    expect(envFilePath(["--env-file", "/a.env"], { PROBEMESH_ENV_FILE: "/b.env" })).toBe("/a.env");
    expect(envFilePath([], { PROBEMESH_ENV_FILE: " /b.env " })).toBe("/b.env");
    expect(envFilePath([], { PROBEMESH_ENV_FILE: "" })).toBeUndefined();
    expect(() => envFilePath(["--env-file"], {})).toThrow("--env-file needs a path");
  });
});
