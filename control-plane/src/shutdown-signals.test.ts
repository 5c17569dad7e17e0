import { EventEmitter } from "node:events";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { onShutdownSignals } from "./shutdown-signals.js";

function setup() {
  const target = new EventEmitter();
  const calls: string[] = [];
  onShutdownSignals({
    target,
    log: pino({ level: "silent" }),
    shutdown: (s) => calls.push(`shutdown ${s}`),
    force: (s) => calls.push(`force ${s}`),
  });
  return { target, calls };
}

describe("onShutdownSignals", () => {
  it("shuts down gracefully on Ctrl-C followed by the SIGTERM of the script that ran us", () => {
    const { target, calls } = setup();
    target.emit("SIGINT");
    target.emit("SIGTERM");
    expect(calls).toEqual(["shutdown SIGINT"]);
  });

  it("ignores a repeated SIGTERM (supervisors repeat it; the grace timer bounds the shutdown)", () => {
    const { target, calls } = setup();
    target.emit("SIGTERM");
    target.emit("SIGTERM");
    expect(calls).toEqual(["shutdown SIGTERM"]);
  });

  it("exits at once when Ctrl-C is pressed again", () => {
    const { target, calls } = setup();
    target.emit("SIGINT");
    target.emit("SIGINT");
    expect(calls).toEqual(["shutdown SIGINT", "force SIGINT"]);
  });
});
