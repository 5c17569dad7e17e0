import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { checkFixture } from "@probemesh/proto/testing";
import { followChecks } from "../ingest/follow-checks.js";
import { createMemoryRegistry } from "../registry/memory-registry.js";
import type { ResultRow } from "../store/types.js";
import { attributingStore } from "./attribute-results.js";

const log = pino({ level: "silent" });

function row(checkId: string, startedAt: number): ResultRow {
  return {
    id: `${checkId}-${startedAt}`,
    checkId,
    checkVersion: 1,
    agentId: "a",
    region: "eu-west",
    provider: "",
    startedAt,
    durationMs: 1,
    state: "up",
    reason: "",
    message: "",
    phases: { dnsMs: 0, connectMs: 0, tlsMs: 0, ttfbMs: 0, transferMs: 0 },
    seq: 1,
    attempts: 1,
    target: "",
    canary: false,
    lagMs: 0,
    httpStatus: 200,
    bodyBytes: 0,
    details: {},
  };
}

describe("attributingStore", () => {
  it("stamps each result with its check's current uid, and drops results of deleted or earlier checks", async () => {
    let clock = 1000;
    let n = 0;
    const registry = createMemoryRegistry({ log, now: () => clock, newUid: () => `u${++n}` });
    await registry.create(checkFixture("web"));
    const inserted: ResultRow[][] = [];
    const checks = followChecks(registry);
    const store = attributingStore({ insertResults: async (rows) => void inserted.push([...rows]) }, { checks, log });

    const batch = [row("web", 1500), row("gone", 1500)];
    await store.insertResults(batch);
    expect(inserted[0]?.map((r) => [r.checkId, r.checkUid])).toEqual([["web", "u1"]]);
    // Stamped on the row itself: what ingest hands on to consensus carries the uid too.
    expect(batch[0]?.checkUid).toBe("u1");

    await registry.delete("web");
    clock = 5000;
    await registry.create(checkFixture("web"));
    await store.insertResults([row("web", 4000), row("web", 5500)]);
    expect(inserted[1]?.map((r) => [r.startedAt, r.checkUid])).toEqual([[5500, "u2"]]);
    expect(store.stats()).toEqual({ droppedDeleted: 1, droppedBeforeCreation: 1 });
    checks.stop();
  });
});
