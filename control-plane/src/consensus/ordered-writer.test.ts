import { describe, expect, it } from "vitest";
import { createOrderedWriter } from "./ordered-writer.js";

describe("ordered KV writer", () => {
  it("keeps a failed write pending, and writes a value changed during its write again", async () => {
    const writes: string[] = [];
    let fail = true;
    let changeDuringWrite: (() => void) | undefined;
    const failed: string[] = [];
    const w = createOrderedWriter<string>({
      write: async (key, value) => {
        if (fail) throw new Error("KV away");
        writes.push(`${key}=${value}`);
        changeDuringWrite?.();
        changeDuringWrite = undefined;
      },
      held: () => true,
      onFailure: (_err, key, pending) => failed.push(`${key}/${pending}`),
    });
    w.set("a", "1");
    w.set("b", "1");
    expect(await w.flush()).toBe(false);
    expect(failed).toEqual(["a/2"]);
    expect([w.size, w.failures, w.pending("a")]).toEqual([2, 1, true]);
    fail = false;
    changeDuringWrite = () => w.set("a", "2");
    expect(await w.flush()).toBe(true);
    // "a" changed while its first value was being written: the newer value goes last.
    expect(writes).toEqual(["a=1", "b=1", "a=2"]);
    expect(w.size).toBe(0);
  });
});
