// The control plane's own logs, through the built program: credentials can only be given inside the
// NATS and ClickHouse URLs, so those URLs must never be logged as they are.
import { describe, expect, it } from "vitest";
import { freePort, startProcess, waitFor } from "./harness/index.js";
import { API_TOKEN, CONTROL_PLANE_BIN, SECRET_KEY } from "./harness/mesh.js";

describe("control plane start-up logs", () => {
  it("never log the passwords inside PROBEMESH_NATS_URL and PROBEMESH_CLICKHOUSE_URL", async () => {
    // Nothing listens on these ports: the control plane logs its start line, then retries NATS.
    const [natsPort, chPort, httpPort, grpcPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const proc = startProcess("control-plane", process.execPath, [CONTROL_PLANE_BIN], {
      env: {
        ...process.env,
        PROBEMESH_NATS_URL: `nats://probemesh:nats-pw-1234@127.0.0.1:${natsPort}`,
        PROBEMESH_CLICKHOUSE_URL: `http://default:ch-pw-5678@127.0.0.1:${chPort}`,
        PROBEMESH_HTTP_ADDR: `127.0.0.1:${httpPort}`,
        PROBEMESH_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
        PROBEMESH_API_TOKEN: API_TOKEN,
        PROBEMESH_SECRET_KEY: SECRET_KEY,
        PROBEMESH_LOG_LEVEL: "debug",
      },
    });
    try {
      await waitFor("the NATS retry line", () => proc.output().includes("connecting to NATS failed"), 15_000);
      const out = proc.output();
      expect(out).toContain("starting probemesh control plane");
      expect(out).toContain(`probemesh:***@127.0.0.1:${natsPort}`);
      expect(out).not.toContain("nats-pw-1234");
      expect(out).not.toContain(SECRET_KEY.slice(SECRET_KEY.indexOf(":") + 1));
      expect(out).not.toContain("stored in clear");
      expect(out).not.toContain("ch-pw-5678");
    } finally {
      await proc.stop();
    }
    expect(proc.output()).not.toMatch(/nats-pw-1234|ch-pw-5678/);
  }, 30_000);
  it("without PROBEMESH_SECRET_KEY refuses to start, unless PROBEMESH_INSECURE=true (then warns once)", async () => {
    const [natsPort, httpPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...process.env,
      PROBEMESH_NATS_URL: `nats://127.0.0.1:${natsPort}`,
      PROBEMESH_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      PROBEMESH_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      PROBEMESH_API_TOKEN: API_TOKEN,
      PROBEMESH_SECRET_KEY: "",
    };
    const refused = startProcess("control-plane", process.execPath, [CONTROL_PLANE_BIN], { env });
    await waitFor("the exit", () => refused.exited(), 15_000);
    expect(refused.output()).toContain("PROBEMESH_SECRET_KEY: is required");

    const insecure = startProcess("control-plane", process.execPath, [CONTROL_PLANE_BIN], {
      env: { ...env, PROBEMESH_INSECURE: "true" },
    });
    try {
      await waitFor("the NATS retry line", () => insecure.output().includes("connecting to NATS failed"), 15_000);
      expect(insecure.output().split("stored in clear in NATS KV")).toHaveLength(2);
    } finally {
      await insecure.stop();
    }
  }, 40_000);
});
