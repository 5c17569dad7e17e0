import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

describe("logger", () => {
  it("redacts tokens and authorization headers", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ level: "info", base: { agentId: "a1" }, destination });
    log.info(
      {
        token: "t0ps3cret",
        config: { agentToken: "t0ps3cret", region: "r" },
        metadata: { authorization: "Bearer t0ps3cret" },
      },
      "hello",
    );
    log.child({ component: "x" }).info({ req: { headers: { authorization: "Bearer t0ps3cret" } } }, "child");
    const out = lines.join("");
    expect(out).not.toContain("t0ps3cret");
    expect(out).toContain('"agentId":"a1"');
    expect(out).toContain("[redacted]");
  });
});
