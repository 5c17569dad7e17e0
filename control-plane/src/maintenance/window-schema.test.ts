import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.js";
import { validateMaintenanceWindow } from "./window-schema.js";

function problems(json: unknown): { field: string; message: string }[] {
  try {
    validateMaintenanceWindow(json);
  } catch (err) {
    if (err instanceof ValidationError) return (err.details?.problems as { field: string; message: string }[]) ?? [];
    throw err;
  }
  throw new Error("expected a ValidationError");
}

describe("validateMaintenanceWindow", () => {
  it("accepts a window and normalises it", () => {
    expect(
      validateMaintenanceWindow({ id: "db-upgrade", checks: ["web", "api"], from: 1000, to: 2000, description: null }),
    ).toEqual({ id: "db-upgrade", checks: ["web", "api"], from: 1000, to: 2000 });
    expect(
      validateMaintenanceWindow({ id: "w", checks: "*", from: 0, to: 60_000, repeat: { everyMs: 86_400_000 } }),
    ).toEqual({ id: "w", checks: "*", from: 0, to: 60_000, repeat: { everyMs: 86_400_000 } });
  });

  it("lists every problem", () => {
    const got = problems({ id: "Bad Id", checks: [], from: 2000, to: 1000, extra: 1 });
    const fields = got.map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining(["id", "checks", "to", "extra"]));
    expect(got.find((p) => p.field === "to")?.message).toBe("must be after from");
  });

  it("requires from and to, and a repeat no shorter than the window", () => {
    expect(problems({ id: "w", checks: ["web"] }).map((p) => p.field)).toEqual(expect.arrayContaining(["from", "to"]));
    expect(
      problems({ id: "w", checks: ["web"], from: 0, to: 7_200_000, repeat: { everyMs: 3_600_000 } }).map(
        (p) => p.field,
      ),
    ).toContain("repeat.everyMs");
    expect(problems({ id: "w", checks: ["web"], from: 0, to: 1, repeat: { everyMs: 1000 } })[0]?.field).toBe(
      "repeat.everyMs",
    );
    expect(problems({ id: "w", checks: "some", from: 0, to: 1 })[0]?.field).toBe("checks");
    expect(problems({ id: "w", checks: ["Not Valid"], from: 0, to: 1 })[0]?.field).toMatch(/^checks/);
  });
});

describe("validateMaintenanceWindow: labels", () => {
  it("accepts labels instead of checks", () => {
    expect(validateMaintenanceWindow({ id: "w", labels: { team: "payments" }, from: 0, to: 1 })).toEqual({
      id: "w",
      checks: [],
      labels: { team: "payments" },
      from: 0,
      to: 1,
    });
  });
  it("wants exactly one of checks and labels, and valid labels", () => {
    expect(problems({ id: "w", from: 0, to: 1 }).map((p) => p.field)).toEqual(["checks"]);
    expect(problems({ id: "w", checks: ["web"], labels: { a: "b" }, from: 0, to: 1 }).map((p) => p.field)).toEqual([
      "labels",
    ]);
    expect(problems({ id: "w", labels: { "bad key": "x" }, from: 0, to: 1 }).map((p) => p.field)).toContain(
      "labels.bad key",
    );
  });
});
