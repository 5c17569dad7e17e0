import { describe, expect, it } from "vitest";
import { AgentError, ConfigError, NotRunningError, OutboxClosedError, StateDirLockedError } from "./errors.js";

describe("agent errors", () => {
  it("carry a stable code, their own name and the cause", () => {
    const cause = new Error("EEXIST");
    const err = new StateDirLockedError("state dir /x is in use", { cause });
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: "StateDirLockedError", code: "state_dir_locked", cause });
    expect(new OutboxClosedError()).toMatchObject({ code: "outbox_closed", message: "outbox is closed" });
    expect(new NotRunningError()).toMatchObject({ code: "not_running", message: "agent is not running" });
  });

  it("list every configuration problem", () => {
    const err = new ConfigError(["A is required", "B must be a number"]);
    expect(err).toMatchObject({
      name: "ConfigError",
      code: "invalid_config",
      problems: ["A is required", "B must be a number"],
    });
    expect(err.message).toBe("invalid configuration:\n  - A is required\n  - B must be a number");
  });

  it("wrap anything thrown, keeping an AgentError as it is", () => {
    const own = new OutboxClosedError();
    expect(AgentError.from(own)).toBe(own);
    const wrapped = AgentError.from(new TypeError("boom"));
    expect(wrapped).toMatchObject({ name: "AgentError", code: "internal", message: "boom" });
    expect(wrapped.cause).toBeInstanceOf(TypeError);
    expect(AgentError.from("text")).toMatchObject({ code: "internal", message: "text", cause: "text" });
  });
});
