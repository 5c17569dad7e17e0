import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createDegradedAnnouncements, type DegradedBucket } from "./degraded-announcements.js";

const log = pino({ level: "silent" });

/** A memory stand-in for the few KV calls the module makes; `broken` makes every call reject. */
function fakeBucket() {
  const data = new Map<string, string>();
  const state = { broken: false };
  const check = () => {
    if (state.broken) throw new Error("nats: timeout");
  };
  const bucket = {
    put: async (k: string, v: string) => {
      check();
      data.set(k, v);
      return data.size;
    },
    delete: async (k: string) => {
      check();
      data.delete(k);
    },
    get: async (k: string) => {
      check();
      const v = data.get(k);
      return v === undefined ? null : { operation: "PUT", string: () => v };
    },
    keys: async () => {
      check();
      return (async function* () {
        yield* [...data.keys()];
      })();
    },
  } as unknown as DegradedBucket;
  return { bucket, data, state };
}

describe("createDegradedAnnouncements", () => {
  it("marks and clears checks in the bucket, and a new instance (a restart) lists what is still marked", async () => {
    const { bucket, data } = fakeBucket();
    const a = createDegradedAnnouncements({ open: async () => bucket, log });
    await a.mark("web", 1000);
    await a.mark("api.v2", 2000);
    await a.mark("db", 3000);
    await a.clear("db");
    expect(a.has("web")).toBe(true);
    expect(a.has("db")).toBe(false);
    // Dots in check ids are stored as the check registry stores them.
    expect([...data.keys()].sort()).toEqual(["api=v2", "web"]);

    const b = createDegradedAnnouncements({ open: async () => bucket, log });
    expect(b.has("web")).toBe(false);
    expect(await b.list()).toEqual([
      { checkId: "api.v2", at: 2000 },
      { checkId: "web", at: 1000 },
    ]);
    expect(b.has("web")).toBe(true);
  });

  it("skips keys that are not check ids and keeps a mark whose value is unreadable", async () => {
    const { bucket, data } = fakeBucket();
    data.set("web", "not json");
    data.set("Bad Key", JSON.stringify({ at: 1 }));
    const a = createDegradedAnnouncements({ open: async () => bucket, log });
    expect(await a.list()).toEqual([{ checkId: "web", at: 0 }]);
  });

  it("never rejects when NATS fails: counts the failure, keeps its own view, and works again once NATS is back", async () => {
    const { bucket, data, state } = fakeBucket();
    let opens = 0;
    const a = createDegradedAnnouncements({
      open: async () => {
        opens++;
        if (opens === 1) throw new Error("no responders");
        return bucket;
      },
      log,
    });
    await expect(a.mark("web", 1)).resolves.toBeUndefined();
    expect(a.stats.failures).toBe(1);
    expect(a.has("web")).toBe(true);
    // The bucket is opened again after a failed open.
    await a.mark("web", 2);
    expect(data.get("web")).toBe(JSON.stringify({ at: 2 }));
    state.broken = true;
    await expect(a.clear("web")).resolves.toBeUndefined();
    await expect(a.list()).resolves.toEqual([]);
    expect(a.stats.failures).toBe(3);
    expect(a.has("web")).toBe(false);
    expect(opens).toBe(2);
  });
});
