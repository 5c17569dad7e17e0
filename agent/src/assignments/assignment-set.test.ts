import { checkFixture as check } from "@probemesh/proto/testing";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createAssignmentCache } from "./assignment-cache.js";
import { createAssignmentSet, type AssignmentChange } from "./assignment-set.js";

const log = pino({ level: "silent" });
const summary = (changes: AssignmentChange[]) =>
  changes.map((c) => (c.kind === "upsert" ? `+${c.check.id}@${c.check.version}` : `-${c.checkId}`));

describe("assignment set", () => {
  it("applies a snapshot, then deltas, reporting only real changes", () => {
    const set = createAssignmentSet({ region: "eu-west" });
    expect(summary(set.applySnapshot({ version: 5n, partitions: 16, checks: [check("a"), check("b")] }))).toEqual([
      "+a@1",
      "+b@1",
    ]);
    expect(set.version()).toBe(5n);
    expect(
      summary(
        set.applyDelta({
          version: 6n,
          partitions: 16,
          upserted: [check("b", { version: 2 }), check("c")],
          removed: ["a", "zzz"],
        }),
      ),
    ).toEqual(["+b@2", "+c@1", "-a"]);
    expect(set.version()).toBe(6n);
    // The same definition again is no change.
    expect(set.applyDelta({ version: 7n, partitions: 16, upserted: [check("c")], removed: [] })).toEqual([]);
    expect(
      set
        .checks()
        .map((c) => c.id)
        .sort(),
    ).toEqual(["b", "c"]);
  });

  it("diffs a new snapshot against the current set (after a reconnect)", () => {
    const set = createAssignmentSet({ region: "eu-west" });
    set.applySnapshot({ version: 1n, partitions: 16, checks: [check("a"), check("b"), check("c")] });
    const changes = set.applySnapshot({
      version: 9n,
      partitions: 16,
      checks: [check("a"), check("b", { intervalMs: 2000, version: 2 }), check("d")],
    });
    expect(summary(changes)).toEqual(["-c", "+b@2", "+d@1"]);
    const b = changes.find((c) => c.kind === "upsert" && c.check.id === "b");
    expect(b?.kind === "upsert" && b.previous?.intervalMs).toBe(1000);
  });

  it("keeps the partition count of the latest snapshot or delta (0 = none announced)", () => {
    const set = createAssignmentSet({ region: "eu-west" });
    expect(set.partitions()).toBe(0);
    set.applySnapshot({ version: 1n, partitions: 16, checks: [check("a")] });
    expect(set.partitions()).toBe(16);
    // A delta that changes no check still carries the count in force.
    expect(set.applyDelta({ version: 2n, partitions: 32, upserted: [check("a")], removed: [] })).toEqual([]);
    expect(set.partitions()).toBe(32);
    // A control plane that predates partitions (a rolling downgrade) sends none: back to the 4-token subject.
    set.applySnapshot({ version: 3n, partitions: 0, checks: [check("a")] });
    expect(set.partitions()).toBe(0);
  });

  it("does not run checks restricted to other regions", () => {
    const set = createAssignmentSet({ region: "eu-west" });
    set.applySnapshot({
      version: 1n,
      partitions: 16,
      checks: [check("a", { regions: ["us-east"] }), check("b", { regions: ["eu-west", "us-east"] }), check("c")],
    });
    expect(
      set
        .checks()
        .map((c) => c.id)
        .sort(),
    ).toEqual(["b", "c"]);
    // Moving a check away from this region removes it.
    expect(
      summary(
        set.applyDelta({ version: 2n, partitions: 16, upserted: [check("b", { regions: ["us-east"] })], removed: [] }),
      ),
    ).toEqual(["-b"]);
  });
});

describe("assignment cache", () => {
  const dir = mkdtempSync(join(tmpdir(), "assign-cache-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("saves and loads the full set with its version", () => {
    const cache = createAssignmentCache({ dir, log, now: () => 1234 });
    expect(cache.load()).toBeUndefined();
    const checks = [
      check("a", { http: { url: "http://x/", headers: { a: "b" }, expectStatus: ["200"] } }),
      check("b", { type: "tcp" }),
    ];
    cache.save({ version: 18446744073709551615n, checks, partitions: 64 });
    const loaded = createAssignmentCache({ dir, log }).load();
    expect(loaded?.version).toBe(18446744073709551615n);
    expect(loaded?.partitions).toBe(64);
    expect(loaded?.savedAtMs).toBe(1234);
    expect(loaded?.checks.map((c) => c.id)).toEqual(["a", "b"]);
    expect(loaded?.checks[0]?.http?.url).toBe("http://x/");
    expect(loaded?.checks[0]?.http?.headers).toEqual({ a: "b" });
  });

  it("reads a cache written before partitions existed as announcing none", () => {
    const d = mkdtempSync(join(tmpdir(), "assign-cache-old-"));
    writeFileSync(
      join(d, "assignments.json"),
      JSON.stringify({ savedAtMs: 1, snapshot: { version: "3", checks: [] } }),
    );
    expect(createAssignmentCache({ dir: d, log }).load()).toMatchObject({ version: 3n, partitions: 0 });
    rmSync(d, { recursive: true, force: true });
  });

  it("treats an unreadable cache as absent", () => {
    const d = mkdtempSync(join(tmpdir(), "assign-cache-bad-"));
    writeFileSync(join(d, "assignments.json"), "{not json");
    expect(createAssignmentCache({ dir: d, log }).load()).toBeUndefined();
    writeFileSync(join(d, "assignments.json"), JSON.stringify({ snapshot: { checks: [{ intervalMs: "many" }] } }));
    expect(createAssignmentCache({ dir: d, log }).load()).toBeUndefined();
    rmSync(d, { recursive: true, force: true });
  });
});
